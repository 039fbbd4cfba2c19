"""YAML presets (one per built-in dataset)."""
