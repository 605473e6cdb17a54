"""Enrollments: a learner's claim on a course, its seat and coupon hold, and its pricing."""
