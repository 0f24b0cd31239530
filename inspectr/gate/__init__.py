"""The gate engine: verify the release, verify the rebuild, diff them under a policy."""
