"""Training: configs, data streams and the supervised loop."""
