"""Subcommands beyond the core ones, one module each."""
