"""One module per subject: metadata (index, manifest, config, history), layers, files."""
