"""vision/backends."""
