"""Shared fixtures: the real data beside the repo, small generated IDX sets, quick settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.data.idx import write_idx

REPO = Path(__file__).resolve().parents[1]
DATA = (REPO / ".." / "shared" / "data").resolve()

# Settings that make a classification run take about a second on real MNIST.
QUICK = {
    "data.train_limit": 1000,
    "data.test_limit": 200,
    "train.batch_size": 50,
    "train.iters": 20,
    "train.eval_every": 10,
}


def pytest_configure(config: pytest.Config) -> None:
    # The models in the fast tests are tiny: one thread is as fast, and it stays fast when
    # other processes share the cores (oversubscribed OpenMP threads slow down badly).
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA / "MNIST" / "raw").is_dir():
        pytest.skip(f"real data not found at {DATA}")
    return DATA


def make_idx_dataset(
    root: Path,
    folder: str = "MNIST",
    n_train: int = 120,
    n_test: int = 40,
    gz: bool = True,
    seed: int = 0,
) -> Path:
    """Write a small MNIST-shaped data set in torchvision's layout; returns root."""
    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        images = rng.integers(0, 256, size=(n, 28, 28)).astype(np.uint8)
        # A learnable signal: the label's row is bright.
        images[np.arange(n), labels * 2, :] = 255
        write_idx(raw / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
    return root


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    return make_idx_dataset(tmp_path / "data")
