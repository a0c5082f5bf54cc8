"""Results: the SQLite store of runs and metrics, each run's record, and atomic file writes."""
