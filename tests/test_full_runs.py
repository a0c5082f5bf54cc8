"""Full-size runs that back the accuracy claims in the README (run with `make test-slow`)."""

from __future__ import annotations

import statistics

import pytest

from rnnlab import api
from tests.tutorial_script import run_tutorial_script

pytestmark = pytest.mark.slow

TARGETS = [
    # (preset, dataset, minimum test accuracy after 3000 iterations, seed 0)
    ("seed-c", "mnist", 94.0),
    ("sheet-lstm", "mnist", 98.0),
    ("sheet-lstm", "fashion-mnist", 86.0),
]


def full_run(data_dir, runs_dir, preset: str, dataset: str, seed: int = 0) -> float:
    result = api.train(
        preset,
        overrides={"data.dataset": dataset, "seed": seed},
        data_dir=data_dir,
        runs_dir=runs_dir,
        verbose=False,
    )
    assert result.iteration == 3000
    return result.metrics["test_acc"]


@pytest.mark.parametrize(("preset", "dataset", "minimum"), TARGETS)
def test_full_run_reaches_target(data_dir, tmp_path, preset, dataset, minimum):
    assert full_run(data_dir, tmp_path, preset, dataset) >= minimum


def test_seed_c_on_fashion_mnist_over_seeds(data_dir, tmp_path):
    """SGD at lr 0.1 on a tanh RNN spikes: on Fashion-MNIST one run's final accuracy ranges
    from about 60 % to 83 % with the seed, in rnnlab and in the seeds' own loop alike (README,
    "Fashion-MNIST and seed-c"). What holds is the spread: seeds 0-3 measured 71.40, 75.74,
    79.12 and 81.35 %."""
    accuracies = [full_run(data_dir, tmp_path, "seed-c", "fashion-mnist", s) for s in range(4)]
    assert max(accuracies) >= 80.0, accuracies
    assert statistics.mean(accuracies) >= 74.0, accuracies


def test_seed_c_on_fashion_mnist_is_the_tutorial_script(data_dir, tmp_path):
    """With data.order = "dataloader", rnnlab's seed 0 and the seeds' script under
    torch.manual_seed(0) print the same test accuracy at every evaluation of a full run
    (within one test image): the script's figure for a seed is rnnlab's figure."""
    result = api.train(
        "seed-c",
        overrides={"data.dataset": "fashion-mnist", "data.order": "dataloader"},
        data_dir=data_dir,
        runs_dir=tmp_path,
        verbose=False,
    )
    _, theirs = run_tutorial_script(data_dir, dataset="fashion-mnist")
    ours = [row["test_acc"] for row in result.history]
    assert ours == pytest.approx(theirs, abs=0.011), (ours, theirs)
