"""Experiments made of many runs: comparisons (grid.py) and sweeps (sweep.py)."""
