"""Checkpoint files that are not what they should be, and --save names that would do harm."""

from __future__ import annotations

import pickle
import sqlite3

import pytest
import torch

from rnnlab import api
from rnnlab.errors import CheckpointError
from rnnlab.training import checkpoint as ckpt
from tests.conftest import QUICK


@pytest.fixture(scope="module")
def run(data_dir, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    return api.train("seed-c", overrides=QUICK, data_dir=data_dir, runs_dir=runs, verbose=False)


class Payload:  # pickled into a file, it needs code to be rebuilt: weights_only refuses it
    pass


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "not a PyTorch .pt file at all (it is empty)"),
        (b"\x89PNG\r\n\x1a\n....", "(it is a PNG image)"),
        (b"SQLite format 3\x00", "(it is an SQLite database)"),
        (b"seed = 1\n", "(it is text)"),
    ],
)
def test_a_file_that_is_no_pytorch_file_says_what_it_looks_like(tmp_path, content, says):
    path = tmp_path / "x.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=r"is not a checkpoint: ") as info:
        ckpt.load_checkpoint(path)
    assert says in str(info.value) and "\n" not in str(info.value)


def test_a_pickle_with_code_is_refused_without_running_it(tmp_path):
    path = tmp_path / "code.pt"
    torch.save({"format": ckpt.FORMAT, "obj": Payload()}, path, pickle_module=pickle)
    with pytest.raises(CheckpointError, match="holds Python objects besides tensors"):
        ckpt.load_checkpoint(path)


def test_damaged_entries(run, data_dir, tmp_path):
    payload = torch.load(run.checkpoint, weights_only=True)
    bad = tmp_path / "bad.pt"
    torch.save({**payload, "version": "x"}, bad)
    with pytest.raises(CheckpointError, match="its version 'x' is not a number"):
        ckpt.load_checkpoint(bad)
    name = next(iter(payload["model"]))
    torch.save({**payload, "model": {**payload["model"], name: "text"}}, bad)
    with pytest.raises(CheckpointError, match=f"its {name} is a str, not a tensor"):
        api.evaluate(bad, data_dir=data_dir)


def test_save_refuses_what_it_would_destroy(run, tmp_path):
    store = tmp_path / "rnnlab.db"
    sqlite3.connect(store).close()
    store.write_bytes(b"SQLite format 3\x00" + bytes(100))
    config = tmp_path / "my.toml"
    config.write_text('task = "classify"\n')
    for target in (store, config):
        with pytest.raises(CheckpointError, match="would overwrite a file that is not an rnnlab"):
            ckpt.check_save_target(target)
    with pytest.raises(CheckpointError, match="is the checkpoint of the run in"):
        ckpt.check_save_target(run.checkpoint)
    with pytest.raises(CheckpointError, match=r"config.toml is a file, not a folder"):
        ckpt.check_save_target(run.checkpoint.parent / "config.toml" / "x.pt")
    with pytest.raises(CheckpointError, match="is a folder; give a file name"):
        ckpt.check_save_target(tmp_path)
    # an earlier --save copy is overwritten, and missing folders are fine (made when written)
    copy = tmp_path / "copy.pt"
    ckpt.save_checkpoint(copy, ckpt.load_checkpoint(run.checkpoint))
    ckpt.check_save_target(copy)
    ckpt.check_save_target(tmp_path / "new" / "deeper" / "rnn.pt")
    assert not (tmp_path / "new").exists()


def test_save_into_an_unwritable_folder_is_refused_before_training(data_dir, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        probe = locked / "probe"
        try:
            probe.write_text("")
        except OSError:
            pass
        else:
            pytest.skip("running as root: permissions do not stop writes")
        with pytest.raises(CheckpointError, match="cannot write in"):
            api.train("seed-c", overrides=QUICK, data_dir=data_dir, runs_dir=tmp_path / "r",
                      save=locked / "rnn.pt", verbose=False)  # fmt: skip
        assert not (tmp_path / "r").exists()
    finally:
        locked.chmod(0o700)


def test_a_file_in_the_save_path_is_refused_before_training(data_dir, tmp_path):
    (tmp_path / "hh.pt").write_text("x")
    with pytest.raises(CheckpointError, match="hh.pt is a file, not a folder"):
        api.train("seed-c", overrides=QUICK, data_dir=data_dir, runs_dir=tmp_path / "r",
                  save=tmp_path / "hh.pt" / "x.pt", verbose=False)  # fmt: skip
    assert not (tmp_path / "r").exists()
