"""Results: the SQLite store of runs and metrics."""
