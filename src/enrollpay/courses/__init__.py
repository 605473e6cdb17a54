"""The course catalog."""
