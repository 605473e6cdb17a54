"""The built-in Razorpay sandbox (SPEC §6): REST API, Checkout stand-in, webhooks, control API."""
