"""Generators derived from the run's seed, so every random draw of the data is reproducible."""

from __future__ import annotations

import torch


def seeded_generator(seed: int, salt: int) -> torch.Generator:
    """A CPU generator for one (seed, salt) pair, e.g. salt = epoch or iteration.

    Draws made with it depend on nothing else, which is what lets a resumed run see exactly
    the batches it would have seen without the interruption.
    """
    return torch.Generator().manual_seed(seed * 1_000_003 + salt)
