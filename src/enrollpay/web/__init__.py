"""Server-rendered HTML: the hosted payment page now, the web UI later (SPEC §5)."""
