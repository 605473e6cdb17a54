"""Admin work that spans domains: the audit trail of admin actions (SPEC §4.5) and what the
admin console needs beyond one domain's admin routes."""
