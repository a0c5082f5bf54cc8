"""Shared fixtures: the real data beside the repo, small generated IDX sets, quick settings."""

from __future__ import annotations

import signal
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


@pytest.fixture(autouse=True)
def _own_runs_folder(tmp_path_factory, monkeypatch) -> None:
    """A call that names no runs folder uses a fresh one, never the developer's ./runs: a
    comparison saved there by hand would otherwise change what a test plans."""
    monkeypatch.setenv("RNNLAB_RUNS", str(tmp_path_factory.mktemp("default-runs")))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (DATA / "MNIST" / "raw").is_dir():
        pytest.skip(f"real data not found at {DATA}")
    return DATA


@pytest.fixture(scope="session")
def classify_checkpoint(data_dir, tmp_path_factory) -> Path:
    """A two-iteration seed-c checkpoint: the 'wrong task' input of sample, tag, translate."""
    from rnnlab import api

    result = api.train(
        "seed-c",
        overrides={
            "train.iters": 2,
            "data.train_limit": 200,
            "data.test_limit": 100,
            "train.batch_size": 50,
        },
        data_dir=data_dir,
        runs_dir=tmp_path_factory.mktemp("classify-runs"),
        verbose=False,
    )
    return result.checkpoint


@pytest.fixture
def unwritable_folder(tmp_path: Path):
    """An existing folder in which this process cannot create anything: a folder without
    write permission, or, for root (whom permissions do not stop), sysfs, where nobody
    can create files."""
    import os

    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        yield locked
        locked.chmod(0o700)
        return
    sysfs = Path("/sys")
    try:
        (sysfs / "rnnlab-probe").mkdir()
    except OSError:
        yield sysfs
    else:  # pragma: no cover - a writable /sys: nothing here stops root
        (sysfs / "rnnlab-probe").rmdir()
        pytest.skip("running as root with no folder that refuses writes")


def press_ctrl_c() -> None:
    """What a user's Ctrl-C does: SIGINT to this process (the trainer stops at the next
    iteration boundary)."""
    signal.raise_signal(signal.SIGINT)


def ctrl_c_at_batch(monkeypatch, task_class: type, iteration: int):
    """Press Ctrl-C as `task_class` draws the batch of `iteration` (0-based): the iteration
    in flight, the (iteration + 1)-th, still finishes before the run stops. Returns the
    original `batch`, for a test that puts it back to resume."""
    original = task_class.batch

    def pressing(self, i):
        if i == iteration:
            press_ctrl_c()
        return original(self, i)

    monkeypatch.setattr(task_class, "batch", pressing)
    return original


def train_straight_and_resumed(
    preset: str,
    overrides: dict,
    *,
    total: int,
    stop: int,
    runs_dir: Path,
    data_dir: Path | None = None,
):
    """Train `total` iterations in one go, and again as `stop` iterations + resume to `total`.

    Returns (straight, first part, resumed) RunResults; the two parts share one runs folder,
    so the resume overwrites the first part's last.pt: a copy of it as the first part left it
    is kept as runs_dir / "stopped.pt".
    """
    import shutil

    from rnnlab import api

    def train(**kwargs):
        return api.train(data_dir=data_dir, verbose=False, **kwargs)

    straight = train(
        config=preset, overrides={**overrides, "train.iters": total}, runs_dir=runs_dir / "a"
    )
    first = train(
        config=preset, overrides={**overrides, "train.iters": stop}, runs_dir=runs_dir / "b"
    )
    shutil.copy(first.checkpoint, runs_dir / "stopped.pt")
    resumed = train(
        resume=first.checkpoint, overrides={"train.iters": total}, runs_dir=runs_dir / "b"
    )
    # The first part stopped at `stop` and the resume trained the rest: a first part that ran
    # on to `total` (leaving the resume nothing to do) would match the straight run trivially.
    assert (straight.iteration, first.iteration, resumed.iteration) == (total, stop, total)
    return straight, first, resumed


def assert_same_parameters(checkpoint_a: Path, checkpoint_b: Path) -> None:
    a = torch.load(checkpoint_a, weights_only=True)["model"]
    b = torch.load(checkpoint_b, weights_only=True)["model"]
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def one_line_error(capsys, argv: list[str]) -> str:
    """Run the CLI, expect exit code 1 and a single `rnnlab: error: ...` line; return it."""
    from rnnlab import cli

    code = cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and err.startswith("rnnlab: error: ")
    return err


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


def dead_owner() -> str:
    """host:pid of a process of this machine that has ended."""
    import socket
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return f"{socket.gethostname()}:{done.stdout.strip()}"


def store_with_an_orphan(runs: Path) -> None:
    """A store holding a completed run and one left 'running' by a process that has ended."""
    from rnnlab.results.store import ResultsStore

    store = ResultsStore(runs)
    store.create_run(name="done", task="hihell", config={}, status="completed")
    store.create_run(name="killed", task="hihell", config={}, owner=dead_owner())


def shakespeare_slice(tmp_path_factory, chars: int) -> Path:
    """The first `chars` characters of tiny Shakespeare in a file of their own (a text
    module fixture's); skips where the data set is missing."""
    source = DATA / "tinyshakespeare" / "input.txt"
    if not source.is_file():
        pytest.skip(f"tiny Shakespeare not found at {source}")
    path = tmp_path_factory.mktemp("text") / "slice.txt"
    path.write_text(source.read_text(encoding="utf-8")[:chars], encoding="utf-8")
    return path
