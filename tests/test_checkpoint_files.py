"""Checkpoint files that are not what they should be, and --save names that would do harm."""

from __future__ import annotations

import pickle
import sqlite3

import pytest
import torch

from rnnlab import api, cli
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
    for empty in ("", "  "):  # not read as "." (this folder)
        with pytest.raises(CheckpointError, match="--save is empty; give a file name"):
            ckpt.check_save_target(empty)
    # an earlier --save copy is overwritten, and missing folders are fine (made when written)
    copy = tmp_path / "copy.pt"
    ckpt.save_checkpoint(copy, ckpt.load_checkpoint(run.checkpoint))
    ckpt.check_save_target(copy)
    ckpt.check_save_target(tmp_path / "new" / "deeper" / "rnn.pt")
    assert not (tmp_path / "new").exists()


def test_save_into_an_unwritable_folder_is_refused_before_training(
    data_dir, tmp_path, unwritable_folder
):
    with pytest.raises(CheckpointError, match="cannot write in .*give a path in a writable"):
        api.train("seed-c", overrides=QUICK, data_dir=data_dir, runs_dir=tmp_path / "r",
                  save=unwritable_folder / "rnn.pt", verbose=False)  # fmt: skip
    assert not (tmp_path / "r").exists()
    assert not (unwritable_folder / "rnn.pt").exists()


def test_a_file_in_the_save_path_is_refused_before_training(data_dir, tmp_path):
    (tmp_path / "hh.pt").write_text("x")
    with pytest.raises(CheckpointError, match="hh.pt is a file, not a folder"):
        api.train("seed-c", overrides=QUICK, data_dir=data_dir, runs_dir=tmp_path / "r",
                  save=tmp_path / "hh.pt" / "x.pt", verbose=False)  # fmt: skip
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("hidden", 64, "rnn.weight_ih_l0 is (100, 28) in the checkpoint but (64, 28)"),
        ("cell", "lstm", "rnn.weight_ih_l0 is (100, 28) in the checkpoint but (400, 28)"),
        ("layers", 1, "(unexpected rnn.bias_hh_l1)"),
        ("layers", 3, "(missing rnn.bias_hh_l2)"),
        ("bidirectional", True, "(missing rnn.bias_hh_l0_reverse)"),
        ("fc_hidden", 5, "(missing extra_fc.0.bias)"),
    ],
)
def test_a_checkpoint_whose_config_does_not_fit_its_weights(
    run, data_dir, tmp_path, capsys, field, value, says
):
    """evaluate, predict and resume each refuse it in one line naming the mismatch and the
    fix, and a refused resume records no run."""
    from tests.conftest import one_line_error

    payload = torch.load(run.checkpoint, weights_only=True)
    model = {**payload["config"]["model"], field: value}
    bad = tmp_path / "bad.pt"
    torch.save({**payload, "config": {**payload["config"], "model": model}}, bad)
    before = bad.read_bytes()
    common = ["--data-dir", str(data_dir), "--runs-dir", str(tmp_path / "runs")]
    for argv in (
        ["evaluate", str(bad)],
        ["predict", str(bad), "--index", "0"],
        ["train", "--resume", str(bad), "--iters", "30"],
    ):
        err = one_line_error(capsys, [*argv, *common])
        assert f"checkpoint {bad} does not match the model" in err and says in err, argv
        assert "rnnlab inspect CKPT shows it" in err
    assert bad.read_bytes() == before
    assert not (tmp_path / "runs").exists()  # a refused resume writes nothing, no store either


def test_inspect_says_when_a_checkpoint_does_not_fit_its_own_config(run, tmp_path, capsys):
    """inspect lists a damaged checkpoint's tensors as they are (that is what the other
    commands' error points to) and says they do not fit the model its config describes."""
    payload = torch.load(run.checkpoint, weights_only=True)
    model = {**payload["config"]["model"], "cell": "lstm"}
    bad = tmp_path / "bad.pt"
    torch.save({**payload, "config": {**payload["config"], "model": model}}, bad)
    assert cli.main(["inspect", str(bad)]) == 0
    out = capsys.readouterr().out
    assert "do not fit the model its config describes (rnn.weight_ih_l0 is (100, 28)" in out
    assert "rnn.weight_ih_l0" in out and "evaluate, predict and --resume refuse it" in out
    assert api.inspect(bad)["mismatch"].startswith("rnn.weight_ih_l0 is (100, 28)")
    assert api.inspect(run.checkpoint)["mismatch"] is None
    assert api.inspect("seed-c")["mismatch"] is None
