"""Funnel analytics (SPEC §3, §4.5): course views and the enrollment funnel."""
