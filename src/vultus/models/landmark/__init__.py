"""Dense landmarkers: one module per model, each registering its spec (task `landmarker`)."""
