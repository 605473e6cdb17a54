"""Reconciliation: ask Razorpay about our orders and apply what it says (SPEC §1 promise 1)."""
