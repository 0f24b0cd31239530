"""The verify engine: integrity of every blob, then signatures. Returns reports; never prints."""
