"""Talking to Razorpay: the client, its errors, its entities, and signature checks."""
