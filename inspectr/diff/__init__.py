"""The diff engine: two images in, an explained Difference (or None) out. Nothing here prints."""
