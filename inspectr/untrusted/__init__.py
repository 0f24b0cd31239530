"""The only code that interprets bytes taken from an image: tar headers, compression, JSON, names."""
