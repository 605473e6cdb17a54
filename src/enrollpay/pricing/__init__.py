"""Pricing (one pure function) and coupons."""
