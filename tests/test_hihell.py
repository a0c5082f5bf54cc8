"""The hihell -> ihello exercise: learns in seconds, prints its prediction, rejects bad pairs."""

from __future__ import annotations

import pytest

from rnnlab import api
from rnnlab.cli import main
from rnnlab.errors import ConfigError


def test_preset_learns_ihello(tmp_path, capsys):
    result = api.train("hihell", runs_dir=tmp_path, verbose=True)
    out = capsys.readouterr().out
    assert 'predicted: "ihello"' in out.splitlines()[-2]  # the last evaluation's prediction
    assert result.metrics["acc"] == 1.0
    assert result.metrics["exact"] == 1.0
    loaded = api.load(result.checkpoint, task_name="hihell")
    assert loaded.task.predict(loaded.model) == "ihello"
    assert loaded.task.chars == ["e", "h", "i", "l", "o"]


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_relu"])
def test_other_cells_learn(tmp_path, cell):
    result = api.train(
        "hihell",
        overrides={"model.cell": cell, "train.iters": 150},
        runs_dir=tmp_path,
        verbose=False,
    )
    assert result.metrics["exact"] == 1.0


def test_other_pair_and_bidirectional(tmp_path):
    result = api.train(
        "hihell",
        overrides={"data.source": "abcd", "data.target": "bcda", "model.bidirectional": True},
        runs_dir=tmp_path,
        verbose=False,
    )
    assert result.metrics["exact"] == 1.0


def test_unequal_lengths_rejected():
    with pytest.raises(ConfigError, match=r"same length, got 'hihell' \(6\) and 'ihelo' \(5\)"):
        api.make_config("hihell", {"data.target": "ihelo"})


def test_batch_size_above_one_rejected(capsys):
    assert main(["train", "--preset", "hihell", "--batch-size", "4"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "rnnlab: error: the hihell task has a single training pair; use train.batch_size=1, got 4"
    )


def test_inspect_without_data():
    info = api.inspect("hihell")
    names = [p[0] for p in info["parameters"]]
    assert names[0] == "rnn.weight_ih_l0" and info["parameters"][0][1] == (8, 5)
