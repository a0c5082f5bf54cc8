"""Audit of config, overrides, checkpoints and the training loop: each failed before its fix."""

from __future__ import annotations

import pytest
import torch

from rnnlab import api
from rnnlab.config import check_overrides, load_config_file, to_toml
from rnnlab.errors import CheckpointError, ConfigError
from rnnlab.training import checkpoint as ckpt
from rnnlab.training import runtime
from rnnlab.training.trainer import total_iterations
from tests.conftest import one_line_error


class _Batches:
    """A task as total_iterations sees it: only its batches per epoch."""

    def __init__(self, per_epoch: int) -> None:
        self.per_epoch = per_epoch

    def batches_per_epoch(self) -> int:
        return self.per_epoch


@pytest.mark.parametrize(
    ("epochs", "per_epoch", "iterations"),
    [(1.1, 100, 110), (2.2, 50, 110), (0.7, 100, 70), (1.1, 10, 11), (0.5, 3, 2), (1e-9, 600, 1)],
)
def test_fractional_epochs_give_the_iterations_they_name(epochs, per_epoch, iterations):
    """1.1 * 100 is 110.00000000000001 in binary floats, and ceil made that 111 iterations:
    `--epochs 1.1` on 100 batches an epoch trained one batch too many."""
    cfg = api.make_config("seed-c", {"train.epochs": epochs, "train.iters": 0})
    assert total_iterations(_Batches(per_epoch), cfg) == iterations


@pytest.mark.parametrize(
    "argv",
    [
        ["--epochs", "1", "--set", "train.epochs=1"],
        ["--iters", "1e4", "--set", "train.iters=10000"],
        ["--iters", "10000", "--set", "train.iters=1e4"],
        ["--lr", "0.1", "--set", "train.lr=1e-1"],
        ["--download", "--set", "data.download=yes"],
        ["--set", "data.validation=10", "--set", "data.validation=1e1"],
    ],
)
def test_the_same_value_given_twice_is_fine(argv, capsys):
    """README: "Each field is given once ... (the same value twice is fine)". A flag reads
    its value (--epochs 1 is 1.0) while --set keeps the text ("1"), and the two were compared
    as text: `--epochs 1 --set train.epochs=1` was refused as given twice."""
    from rnnlab import cli

    assert cli.main(["train", "--preset", "seed-c", *argv, "--dry-run"]) == 0
    capsys.readouterr()


def test_different_values_for_one_field_are_still_refused(capsys):
    err = one_line_error(
        capsys, ["train", "--preset", "seed-c", "--lr", "0.1", "--set", "train.lr=0.2"]
    )
    assert "train.lr is given twice: --lr 0.1 and --set train.lr=0.2" in err
    with pytest.raises(ConfigError, match="name is given twice"):
        check_overrides([("name", "1"), ("name", "1.0")])  # names are text: not one value


@pytest.mark.parametrize("field", ["train.lr", "train.epochs", "train.momentum"])
def test_an_integer_too_large_for_a_float_is_one_line(field, tmp_path, capsys):
    """A float field given an integer of hundreds of digits (in a TOML file or from Python)
    was a raw OverflowError ("unexpected OverflowError: int too large to convert")."""
    section, key = field.split(".")
    path = tmp_path / "big.toml"
    path.write_text(f"[{section}]\n{key} = 1{'0' * 400}\n")
    with pytest.raises(ConfigError, match=f"{field} is too large: a number of 401 digits"):
        load_config_file(path)
    with pytest.raises(ConfigError, match=f"{field} is too large"):
        api.make_config("seed-c", {field: 10**400})
    err = one_line_error(capsys, ["train", "--config", str(path), "--dry-run"])
    assert "is too large" in err


@pytest.mark.parametrize("text", ["line\nbreak", "esc\x1b[31m", "del\x7f", "nul\x00", 'q"\\'])
def test_a_config_written_as_toml_reads_back(text, tmp_path):
    """to_toml wrote control characters into TOML strings as they were, which TOML forbids:
    a run whose data.path held a newline got a config.toml that no longer loaded."""
    cfg = api.make_config("charlm-tiny", {"data.path": text})
    path = tmp_path / "run.toml"
    path.write_text(to_toml(cfg), encoding="utf-8")
    assert load_config_file(path).data.path == text


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 10-iteration hihell run (no data needed): the checkpoint to damage."""
    runs = tmp_path_factory.mktemp("finished")
    return api.train("hihell", overrides={"train.iters": 10}, runs_dir=runs, verbose=False)


def _damaged(payload: dict, **changes) -> dict:
    out = dict(payload)
    for key, value in changes.items():
        if value is ...:
            del out[key]
        else:
            out[key] = value
    return out


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"optimizer": ...}, "its 'optimizer' entry is missing"),
        ({"optimizer": 5}, "its 'optimizer' entry is missing"),
        ({"iteration": ...}, "it has no iteration"),
        ({"iteration": "abc"}, "its iteration 'abc' is not a whole number"),
        ({"iteration": -5}, "its iteration -5 is not a whole number"),
        ({"rng": "x"}, "its 'rng' entry should be a dict, not str"),
        ({"rng": {"torch": torch.zeros(3)}}, "its random generator state is not torch's"),
        ({"history": 5}, "its 'history' entry should be a list, not int"),
        ({"history": [{"loss": 1.0}]}, "its metrics history has a row without an iteration"),
        ({"best": 5}, "its 'best' entry should be a dict"),
        ({"running": 5}, "its 'running' entry should be a dict"),
        ({"task_state": 5}, "its 'task_state' entry should be a dict"),
        ({"wall_time": "x"}, "its wall_time 'x' is not a number"),
    ],
)
def test_a_checkpoint_with_damaged_entries_is_refused_before_the_run_starts(
    finished, tmp_path, changes, says, capsys
):
    """These failed as "unexpected KeyError/TypeError/ValueError" after the resumed run was
    already in the store (a 'failed' run and a folder per try); a negative iteration or an
    rng that is not a table trained on from a wrong state without a word."""
    payload = torch.load(finished.checkpoint, weights_only=True)
    bad = tmp_path / "bad.pt"
    torch.save(_damaged(payload, **changes), bad)
    with pytest.raises(CheckpointError, match="is a damaged rnnlab checkpoint") as info:
        ckpt.load_checkpoint(bad)
    assert says in str(info.value) and "\n" not in str(info.value)
    runs = tmp_path / "runs"
    err = one_line_error(capsys, ["train", "--resume", str(bad), "--iters", "20",
                                  "--runs-dir", str(runs)])  # fmt: skip
    assert says in err
    assert api.runs(runs) == []  # refused before anything was recorded


def test_an_optimizer_state_that_does_not_fit_is_one_line(finished, tmp_path, capsys):
    """The weights fit, the optimizer state does not (other groups): torch's ValueError came
    out as "unexpected ValueError: loaded state dict has a different number of ...\""""
    payload = torch.load(finished.checkpoint, weights_only=True)
    bad = tmp_path / "bad.pt"
    torch.save({**payload, "optimizer": {"state": {}, "param_groups": []}}, bad)
    err = one_line_error(capsys, ["train", "--resume", str(bad), "--iters", "20",
                                  "--runs-dir", str(tmp_path / "runs")])  # fmt: skip
    assert "is a damaged rnnlab checkpoint (its optimizer state does not fit the model" in err
    assert "unexpected" not in err


def test_the_intact_checkpoint_still_resumes(finished, tmp_path):
    result = api.train(
        resume=finished.checkpoint,
        overrides={"train.iters": 12},
        runs_dir=tmp_path,
        verbose=False,
    )
    assert result.iteration == 12


def test_threads_zero_gives_back_the_count_an_earlier_run_changed(monkeypatch):
    """threads = 0 means torch's default; after a run with threads = 1 (the hihell preset)
    in the same process, a threads = 0 run kept 1 thread, and so other float sums than the
    same config run alone."""
    monkeypatch.setattr(runtime, "_set_by_rnnlab", None)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        runtime.set_threads(1)
        assert torch.get_num_threads() == 1
        runtime.set_threads(0)
        assert torch.get_num_threads() == 2
        # a count the caller sets between runs is the process's own: 0 keeps it
        runtime.set_threads(1)
        torch.set_num_threads(3)
        runtime.set_threads(0)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_a_run_cut_to_where_ctrl_c_stopped_it_is_evaluated_there(tmp_path, monkeypatch):
    """Ctrl-C at iteration 8 of 20 (evaluations every 5), then `--resume last.pt --iters 8`:
    nothing is left to train, and the run ended "completed" with the metrics of iteration 5
    while its last.pt held iteration 8, never evaluated."""
    from rnnlab.errors import TrainingInterrupted
    from rnnlab.tasks.hihell import HihellTask
    from tests.conftest import ctrl_c_at_batch

    original = ctrl_c_at_batch(monkeypatch, HihellTask, 7)  # the 8th iteration still finishes
    over = {"train.iters": 20, "train.eval_every": 5}
    with pytest.raises(TrainingInterrupted, match="interrupted at iteration 8/20"):
        api.train("hihell", overrides=over, runs_dir=tmp_path, verbose=False)
    monkeypatch.setattr(HihellTask, "batch", original)
    (run,) = api.runs(tmp_path)
    result = api.train(
        resume=run["checkpoint"], overrides={"train.iters": 8}, runs_dir=tmp_path, verbose=False
    )
    assert result.status == "completed" and result.iteration == 8
    assert [h["iteration"] for h in result.history] == [5, 8]
    saved = torch.load(result.checkpoint, weights_only=True)
    assert saved["iteration"] == 8 and saved["history"][-1]["iteration"] == 8
    assert api.run_details(run["id"], tmp_path)["history"][-1]["iteration"] == 8
    # a finished run resumed as it is still evaluates nothing more
    again = api.train(resume=result.checkpoint, runs_dir=tmp_path, verbose=False)
    assert [h["iteration"] for h in again.history] == [5, 8]
