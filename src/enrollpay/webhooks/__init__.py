"""Razorpay webhook ingest: verify the signature over the raw body, store the delivery once per
`X-Razorpay-Event-Id` in the inbox (`webhook_events`), answer 2xx at once, and process it in a
job that turns the envelope into gateway facts (SPEC §3 "Webhook event inbox", §4.1)."""
