"""Learners and admins."""
