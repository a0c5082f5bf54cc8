"""The command line: the documented contract, exit codes and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rnnlab.cli import main
from tests.conftest import QUICK, one_line_error

QUICK_FLAGS = [f"--set={k}={v}" for k, v in QUICK.items()]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_train_evaluate_predict_inspect_runs(capsys, data_dir, tmp_path):
    common = ["--data-dir", str(data_dir), "--runs-dir", str(tmp_path)]
    code, out, _ = run(
        capsys,
        "train",
        "--preset",
        "seed-c",
        *common,
        *QUICK_FLAGS,
        "--iters",
        "20",
        "--hidden",
        "32",
        "--lr",
        "0.05",
        "--seed",
        "3",
        "--order",
        "dataloader",
    )
    assert code == 0
    assert "Iteration: 10/20. Loss:" in out and "Test accuracy:" in out and "samples/s" in out
    ckpt = next(tmp_path.glob("seed-c-*/last.pt"))
    code, out, _ = run(capsys, "runs", "--runs-dir", str(tmp_path), "--json")
    assert code == 0
    (row,) = json.loads(out)
    assert row["seed"] == 3 and row["config"]["model"]["hidden"] == 32
    assert row["config"]["train"]["lr"] == 0.05 and row["config"]["data"]["order"] == "dataloader"
    code, out, _ = run(capsys, "runs", "--runs-dir", str(tmp_path))
    assert code == 0 and "seed-c" in out and "completed" in out
    code, out, _ = run(capsys, "runs", "--runs-dir", str(tmp_path), "--status", "failed")
    assert code == 0 and out.startswith("no recorded run matches the filter")
    code, out, _ = run(capsys, "runs", "--runs-dir", str(tmp_path / "empty"))
    assert code == 0 and out.startswith("no runs recorded yet")
    code, out, _ = run(capsys, "evaluate", str(ckpt), "--data-dir", str(data_dir))
    assert code == 0 and "Confusion matrix" in out and "test_acc" in out
    code, out, _ = run(
        capsys, "predict", str(ckpt), "--index", "0", "1", "--data-dir", str(data_dir)
    )
    assert code == 0 and out.startswith("test[0]:") and "(label: 7)" in out
    code, out, _ = run(capsys, "inspect", str(ckpt))
    assert code == 0 and "rnn.weight_hh_l1" in out and "10 tensors" in out


def test_inspect_preset_and_presets_list(capsys):
    code, out, _ = run(capsys, "inspect", "seed-a")
    assert code == 0 and "6 tensors" in out and "100x28" in out
    code, out, _ = run(capsys, "presets")
    assert code == 0 and "sheet-lstm" in out and "98.33" in out


def test_inspect_takes_overrides_for_a_preset_not_a_checkpoint(capsys, classify_checkpoint):
    code, out, _ = run(capsys, "inspect", "seed-a", "--hidden", "50", "--layers", "2")
    assert code == 0 and out.startswith("preset seed-a with model.hidden=50 model.layers=2")
    assert "10 tensors" in out and "50x28" in out
    import rnnlab

    info = rnnlab.inspect("seed-a", overrides={"model.hidden": 50})
    assert info["total"] == 50 * 28 + 50 * 50 + 2 * 50 + 10 * 50 + 10
    err = one_line_error(capsys, ["inspect", str(classify_checkpoint), "--hidden", "8"])
    assert "is a checkpoint, whose model is fixed" in err


def test_train_dry_run_prints_a_config_that_trains_the_same_run(capsys, tmp_path):
    from rnnlab import api
    from rnnlab.config import tomllib  # tomli before Python 3.11

    runs = tmp_path / "runs"
    argv = ["train", "--preset", "seed-c", "--lr", "0.05", "--set", "model.hidden=64"]
    code, out, _ = run(capsys, *argv, "--runs-dir", str(runs), "--dry-run")
    assert code == 0 and out.startswith("# seed-c: 14,986 parameters, 3000 iterations of batch")
    expected = api.make_config("seed-c", {"train.lr": 0.05, "model.hidden": 64})
    assert api.make_config(tomllib.loads(out)).to_dict() == expected.to_dict()
    saved = tmp_path / "mine.toml"
    saved.write_text(out, encoding="utf-8")
    code, again, _ = run(capsys, "train", "--config", str(saved), "--dry-run")
    assert code == 0 and again == out  # the file is the run: same config, same text
    for length, said in (("--epochs=1", "1 epoch of"), ("--iters=1", "1 iteration of")):
        code, one, _ = run(capsys, "train", "--preset", "seed-c", length, "--dry-run")
        assert code == 0 and said in one.splitlines()[0]
    code, out, _ = run(capsys, *argv, "--dry-run", "--json")
    data = json.loads(out)
    assert data["parameters"] == 14986 and data["config"]["train"]["lr"] == 0.05
    assert not runs.exists()  # nothing trained, no store, no folder
    err = one_line_error(capsys, ["train", "--resume", "x.pt", "--dry-run"])
    assert "rnnlab inspect CKPT" in err


def test_every_command_has_its_function_on_the_package():
    import rnnlab
    from rnnlab.inference import sampling, tagging, translation

    assert rnnlab.sample is sampling.sample
    assert rnnlab.tag is tagging.tag and rnnlab.tag_many is tagging.tag_many
    assert rnnlab.translate is translation.translate
    assert set(rnnlab.__all__) >= {"compare", "download", "presets", "report", "sweep"}
    for name in rnnlab.__all__:
        assert callable(getattr(rnnlab, name)), name
    presets = rnnlab.presets()
    assert "seed-c" in presets and "95.54" in presets["seed-c"]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        rnnlab.nope  # noqa: B018


def test_a_corrupt_results_store_is_one_clear_line(capsys, tmp_path):
    import sqlite3

    (tmp_path / "rnnlab.db").write_bytes(bytes(range(256)) * 16)
    code, _, err = run(capsys, "runs", "--runs-dir", str(tmp_path))
    assert code == 1 and "results store" in err and "is corrupt" in err and "move it aside" in err
    assert len(err.strip().splitlines()) == 1
    good = tmp_path / "good"
    from rnnlab.results.store import ResultsStore

    run_id = ResultsStore(good).create_run(name="x", task="classify", config={"seed": 0})
    with sqlite3.connect(good / "rnnlab.db") as db:
        db.execute("UPDATE runs SET config = '{x' WHERE id = ?", (run_id,))
    code, _, err = run(capsys, "runs", "--runs-dir", str(good))
    assert code == 1 and f"run {run_id} in the results store has a corrupt 'config'" in err


def test_resume_from_the_command_line(capsys, data_dir, tmp_path):
    common = ["--data-dir", str(data_dir), "--runs-dir", str(tmp_path)]
    assert run(capsys, "train", "--preset", "sheet-rnn", *common, *QUICK_FLAGS)[0] == 0
    ckpt = next(tmp_path.glob("sheet-rnn-*/last.pt"))
    code, out, _ = run(capsys, "train", "--resume", str(ckpt), "--iters", "30", *common)
    assert code == 0 and "Resuming run 1 at iteration 20" in out and "Iteration: 30/30" in out
    code, out, _ = run(capsys, "train", "--resume", str(ckpt), *common)  # nothing left to do
    assert code == 0 and "Nothing left to train: the checkpoint is at iteration 30 of 30" in out
    assert "Done in" not in out and f"Checkpoint: {ckpt}" in out  # no speed of no training
    code, out, _ = run(capsys, "train", "--resume", str(ckpt), "--iters", "40", "--lr", "0.01",
                       *common)  # fmt: skip
    assert code == 0 and "Changed on resume: train.iters 30 -> 40; train.lr 0.001 -> 0.01" in out
    from rnnlab import api

    resumes = api.run_details(1, tmp_path)["resumes"]  # the settings before each resume stay
    assert [(r["iteration"], r["changes"]) for r in resumes] == [  # not the one with no work
        (20, ["train.iters 20 -> 30"]),
        (30, ["train.iters 30 -> 40", "train.lr 0.001 -> 0.01"]),
    ]
    assert resumes[0]["checkpoint"] == str(ckpt.resolve())
    assert json.loads((ckpt.parent / "result.json").read_text())["resumes"] == resumes
    code, out, _ = run(capsys, "runs", "1", "--runs-dir", str(tmp_path))
    assert "resumed at iteration 30 from" in out and "train.lr 0.001 -> 0.01" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--preset", "nope"], "unknown preset 'nope'; available presets: "),
        (
            ["train", "--preset", "seed-c", "--cell", "xlstm"],
            "unknown cell type (model.cell) 'xlstm'; choose one of: rnn_tanh, rnn_relu, lstm, gru",
        ),
        (["train", "--preset", "seed-c", "--hidden", "0"], "model.hidden must be a positive"),
        (["train", "--preset", "seed-c", "--lr", "-1"], "train.lr must be a positive number"),
        (
            ["train", "--preset", "seed-c", "--optimizer", "lbfgs"],
            "unknown optimizer (train.optimizer) 'lbfgs'; choose one of: sgd, adam, adamw, rmsprop",
        ),
        (["train", "--preset", "seed-c", "--order", "random"], "unknown data.order 'random'"),
        (["train", "--preset", "seed-c", "--set", "model.hiden=3"], "unknown field 'hiden'"),
        (["train"], "say what to train"),
        (["train", "--preset", "seed-c", "--momentum", "nan"], "must be a finite number"),
        (["train", "--preset", "seed-c", "--threads", "100000"], "threads must be at most"),
        (["evaluate", "missing.pt"], "checkpoint missing.pt does not exist"),
        (["evaluate", "."], ". is a folder, not a checkpoint file"),
        (["runs", "--status", "done"], "unknown status 'done'; choose one of: running, completed"),
        (["runs", "--limit", "0"], "limit must be a whole number of runs, 1 or more"),
        (["runs", "--limit", "-3"], "limit must be a whole number of runs, 1 or more"),
        (["predict", "missing.pt", "--index", "0", "--top", "0"], "--top must be a positive"),
        (["inspect", "nothing-like-this"], "unknown preset 'nothing-like-this'"),
    ],
)
def test_errors_are_one_line(capsys, tmp_path, argv, message):
    code, _, err = (
        run(capsys, *argv, "--runs-dir", str(tmp_path))
        if argv[0] == "train"
        else (run(capsys, *argv))
    )
    assert code == 1
    assert err.startswith("rnnlab: error: ") and message in err
    assert err.count("\n") == 1  # one line, no traceback
    assert not any(tmp_path.iterdir())  # refused before a store or a run folder was made


def test_missing_data_folder(capsys, tmp_path):
    code, _, err = run(
        capsys,
        "train",
        "--preset",
        "seed-c",
        "--data-dir",
        str(tmp_path / "no"),
        "--runs-dir",
        str(tmp_path),
    )
    assert code == 1 and "mnist data not found" in err and "--download" in err
    assert "--data-dir" in err and err.count("\n") == 1
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):  # fmt: skip
        assert name in err  # the files it looked for
    assert not (tmp_path / "rnnlab.db").exists()  # a run that never started leaves no store


def test_unwritable_runs_folder_is_one_line(capsys, data_dir, unwritable_folder):
    runs = unwritable_folder / "runs"
    argv = ["train", "--preset", "seed-c", "--iters", "2", "--data-dir", str(data_dir)]
    err = one_line_error(capsys, [*argv, "--runs-dir", str(runs)])
    assert f"cannot write the results store in {runs}" in err
    assert "choose a writable folder with --runs-dir" in err
    assert not runs.exists()


def test_batch_larger_than_data(capsys, data_dir, tmp_path):
    code, _, err = run(
        capsys,
        "train",
        "--preset",
        "seed-c",
        "--data-dir",
        str(data_dir),
        "--runs-dir",
        str(tmp_path),
        "--set",
        "data.train_limit=100",
        "--batch-size",
        "500",
    )
    assert code == 1 and "larger than the 100 training images" in err
    assert err.count("\n") == 1 and "use a smaller batch" in err
    assert not any(tmp_path.iterdir())  # refused before a store or a run folder exists


def test_console_script_has_no_traceback(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rnnlab",
            "train",
            "--preset",
            "seed-c",
            "--data-dir",
            str(tmp_path),
            "--runs-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "rnnlab: error:" in proc.stderr


def test_a_closed_pipe_ends_quietly():
    """`rnnlab inspect seed-c | head -0`: the reader is gone before anything is written."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnnlab", "inspect", "seed-c"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert err == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["compare", "--preset", "seed-c", "--seeds", "0-99999999"], "names more than 100,000"),
        (
            [
                "compare",
                "--preset",
                "seed-c",
                "--grid",
                "model.hidden=8",
                "--grid",
                "model.hidden=4",
            ],
            "--grid model.hidden is given twice",
        ),
        (["report", "--runs", "1-999999999"], "--runs '1-999999999' names more than"),
    ],
)
def test_typos_in_ranges_and_grids_are_caught_before_any_work(capsys, tmp_path, argv, message):
    from rnnlab.results.store import ResultsStore

    ResultsStore(tmp_path)  # an empty store: report reaches its --runs
    code, _, err = run(capsys, *argv, "--runs-dir", str(tmp_path))
    assert code == 1 and message in err and err.count("\n") == 1


def test_save_to_a_folder_is_refused_before_training(capsys, data_dir, tmp_path):
    argv = ["train", "--preset", "seed-c", "--data-dir", str(data_dir)]
    code, _, err = run(capsys, *argv, "--runs-dir", str(tmp_path), "--save", str(tmp_path))
    assert code == 1 and "is a folder; give a file name" in err
    assert not (tmp_path / "rnnlab.db").exists()  # nothing trained, nothing recorded


def test_every_command_and_option_says_what_it_is_for():
    import argparse

    from rnnlab.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    silent = []
    for name, command in sub.choices.items():
        if not command.description:
            silent.append(name)
        silent += [f"{name} {a.dest}" for a in command._actions if not a.help]
    assert silent == []


def test_names_are_shown_whole_and_a_sweep_takes_study_not_name(capsys, tmp_path):
    from rnnlab.results.store import ResultsStore

    store = ResultsStore(tmp_path)
    long = "ex2-lstm[layers=3,fc_hidden=128]"
    store.create_run(name=long, task="classify", config={}, status="completed")
    store.create_run(name="x" * 80, task="classify", config={}, status="completed")
    code, out, _ = run(capsys, "runs", "--runs-dir", str(tmp_path))
    assert code == 0 and long in out and "x" * 47 + "~" in out
    err = one_line_error(capsys, ["sweep", "--preset", "seed-c", "--param", "train.lr=0.1,0.2",
                                  "--name", "mine", "--dry-run"])  # fmt: skip
    assert "give --study mine instead of --name" in err


def test_the_command_list_keeps_each_command_beside_its_help():
    from rnnlab.cli import build_parser

    lines = build_parser().format_help().splitlines()
    for name in ("train", "translate", "sweep"):
        (line,) = [x for x in lines if x.strip().split(" ")[0] == name]
        assert len(line.split()) > 1, line  # the help follows on the same line


def test_ctrl_c_during_train_saves_and_exits_130(capsys, data_dir, tmp_path, monkeypatch):
    from rnnlab.tasks.classify import ClassifyTask
    from tests.conftest import ctrl_c_at_batch

    ctrl_c_at_batch(monkeypatch, ClassifyTask, 15)
    argv = ["train", "--preset", "seed-c", *QUICK_FLAGS, "--hidden", "8", "--threads", "1"]
    code, _, err = run(capsys, *argv, "--data-dir", str(data_dir), "--runs-dir", str(tmp_path))
    assert code == 130
    ckpt = tmp_path / "seed-c-0001" / "last.pt"
    (line,) = [x for x in err.splitlines() if x.startswith("rnnlab: error: ")]
    assert "Traceback" not in err
    assert f"interrupted at iteration 16/20; saved {ckpt}" in line
    assert f"rnnlab train --resume {ckpt}" in line
    import torch

    assert torch.load(ckpt, weights_only=True)["iteration"] == 16
