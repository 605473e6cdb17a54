"""Refunds (learner, admin, automatic, and ones made outside enrollpay) and disputes."""
