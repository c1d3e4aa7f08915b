"""Source checks: one module per check, each registering its spec (task `source_check`)."""
