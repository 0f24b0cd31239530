"""One adapter per on-disk format; `open_image` (in detect.py) picks one and returns an Image."""
