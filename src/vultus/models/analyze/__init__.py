"""Face analyzers: one module per model, each registering its spec (task `analyzer`)."""
