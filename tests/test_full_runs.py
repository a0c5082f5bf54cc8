"""Full-size runs that back the accuracy claims in the README (run with `make test-slow`)."""

from __future__ import annotations

import pytest

from rnnlab import api

pytestmark = pytest.mark.slow

TARGETS = [
    # (preset, dataset, minimum test accuracy after 3000 iterations)
    ("seed-c", "mnist", 94.0),
    ("sheet-lstm", "mnist", 98.0),
    ("seed-c", "fashion-mnist", 80.0),
    ("sheet-lstm", "fashion-mnist", 86.0),
]


@pytest.mark.parametrize(("preset", "dataset", "minimum"), TARGETS)
def test_full_run_reaches_target(data_dir, tmp_path, preset, dataset, minimum):
    result = api.train(
        preset,
        overrides={"data.dataset": dataset},
        data_dir=data_dir,
        runs_dir=tmp_path,
        verbose=False,
    )
    assert result.iteration == 3000
    assert result.metrics["test_acc"] >= minimum
