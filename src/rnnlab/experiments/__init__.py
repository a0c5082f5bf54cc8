"""Experiments made of many runs: comparisons (compare/), sweeps (sweep/) and reports (report/)."""
