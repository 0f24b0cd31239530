"""The audit engine: a security review of one image, with the layer behind every finding."""
