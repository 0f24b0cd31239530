"""Fleet scans: many images on a Dask cluster, each layer digest indexed once, results in a
SQLite store (store.py) that `fleet query` asks questions of (query.py). Dask is imported only
by the modules that run a scan, never by the one-image commands."""
