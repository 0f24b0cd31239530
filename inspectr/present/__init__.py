"""Presenters: turn results into terminal text (rich) or versioned JSON. No engine logic here."""
