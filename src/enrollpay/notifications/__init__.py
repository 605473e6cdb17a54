"""Notifications: emails written to an outbox table in the transaction that decides them, then
sent by a job (SPEC §1.4, §3 "Notifications").

    from enrollpay.notifications.service import drop_email, queue_email
"""
