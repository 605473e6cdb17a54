"""enrollpay: course enrollment with Razorpay payments handled correctly."""

__version__ = "0.1.0"
