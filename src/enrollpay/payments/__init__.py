"""Payments: our payment records, and the gateway (Razorpay) they are made through."""
