"""Abuse protection: velocity rules, risk flags for admins, and the payment-attempt audit log."""
