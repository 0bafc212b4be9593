"""``/jobs/import/...``."""
