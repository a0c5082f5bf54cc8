"""Small defects found by audits: sweep --list in Python, empty run filters, quoted --set
values, a run name given to compare, the benchmark's --download, and sweep reports."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

import rnnlab
from rnnlab import api
from rnnlab.cli import main
from rnnlab.errors import ConfigError
from rnnlab.experiments.report import report
from rnnlab.results.store import ResultsStore
from tests.conftest import REPO, one_line_error

# -- 1. rnnlab.sweeps(): `rnnlab sweep --list` in Python --------------------------------


def test_sweeps_lists_the_shipped_sweeps_as_the_cli_does(capsys):
    found = rnnlab.sweeps()
    assert "sweeps" in rnnlab.__all__ and "sweeps" in dir(rnnlab)
    assert {"ex3-rnn", "ex3-lstm"} <= set(found)
    assert all(isinstance(d, str) and d for d in found.values())  # a description each
    assert main(["sweep", "--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split(None, 1) for line in listed] == [[n, d] for n, d in found.items()]


# -- 2. an empty --name / --group is refused, not read as "every run" -----------------


@pytest.fixture
def two_runs(tmp_path):
    store = ResultsStore(tmp_path)
    store.create_run(name="a", task="classify", status="completed", config={}, group_name="g")
    store.create_run(name="b", task="classify", status="completed", config={})
    return tmp_path


@pytest.mark.parametrize("option", ["name", "group"])
@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_name_or_group_filter_is_refused(two_runs, capsys, option, value):
    with pytest.raises(ConfigError, match=f"--{option} is empty; name one, or leave it out"):
        api.runs(two_runs, **{option: value})
    err = one_line_error(capsys, ["runs", f"--{option}", value, "--runs-dir", str(two_runs)])
    assert f"--{option} is empty" in err
    # the store itself reads an empty filter as one that matches nothing, not as none
    assert ResultsStore(two_runs).list_runs(**{option: ""}) == []
    given = {option: "a" if option == "name" else "g"}
    assert [r["name"] for r in api.runs(two_runs, **given)] == ["a"]


# -- 3. a --set value quoted as TOML is that string, for every field ------------------


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ('name="my run"', "name", "my run"),
        ("name='my run'", "name", "my run"),
        (r'name="a\"b"', "name", 'a"b'),  # TOML's escapes
        ('train.optimizer="adam"', "train.optimizer", "adam"),
        ('model.cell="gru"', "model.cell", "gru"),
        ('data.dataset="fashion-mnist"', "data.dataset", "fashion-mnist"),
        ('train.lr="0.5"', "train.lr", 0.5),
        ('name=a"b"', "name", 'a"b"'),  # quotes inside the text are kept
    ],
)
def test_quoted_set_values_lose_their_quotes(text, field, value):
    cfg = api.make_config("seed-c", [text])
    section, _, key = field.rpartition(".")
    assert getattr(getattr(cfg, section) if section else cfg, key) == value


def test_quoted_set_values_on_the_command_line(capsys):
    argv = ["train", "--preset", "seed-c", "--dry-run", "--json"]
    assert main([*argv, "--set", 'name="my run"']) == 0
    assert json.loads(capsys.readouterr().out)["config"]["name"] == "my run"
    # the same value given twice, once quoted, is the same value, not "given twice"
    assert main([*argv, "--name", "x", "--set", 'name="x"']) == 0
    assert json.loads(capsys.readouterr().out)["config"]["name"] == "x"
    err = one_line_error(capsys, ["train", "--preset", "seed-c", "--set", 'name="a" "b"'])
    assert 'name="a" "b" is not one TOML string' in err
    # only text is read as --set reads it: a dict's value is the value, as given
    assert api.make_config("seed-c", {"name": '"q"'}).name == '"q"'


# -- 4. compare names its runs itself: a name override is refused, not dropped ---------


@pytest.mark.parametrize("overrides", [{"name": "mine"}, ["name=mine"]])
def test_compare_refuses_a_run_name_override(tmp_path, overrides):
    with pytest.raises(ConfigError, match="give --name mine .* instead of setting name"):
        rnnlab.plan_comparison("hihell", seeds=[0], overrides=overrides, runs_dir=tmp_path)


def test_compare_cli_refuses_set_name_but_takes_name(tmp_path, capsys):
    argv = ["compare", "--preset", "hihell", "--seeds", "0", "--dry-run", "--runs-dir",
            str(tmp_path)]  # fmt: skip
    err = one_line_error(capsys, [*argv, "--set", "name=mine"])
    assert "give --name mine" in err
    assert main([*argv, "--name", "mine"]) == 0
    assert "Comparison 'mine'" in capsys.readouterr().out


# -- 5. benchmarks/run.py --download, the flag its missing-data message names ----------


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.mark.skipif(torch.cuda.is_available(), reason="stops at the no-GPU check, after data")
def test_benchmark_download_fetches_missing_data(data_dir, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    for f in (data_dir / "MNIST" / "raw").glob("*.gz"):
        shutil.copy(f, served / f.name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    fresh = tmp_path / "fresh"
    env = {**os.environ, "RNNLAB_MIRROR": f"http://127.0.0.1:{server.server_address[1]}/"}
    cmd = [sys.executable, str(REPO / "benchmarks" / "run.py"), "--data-dir", str(fresh),
           "--presets", "seed-c", "--device", "cuda"]  # fmt: skip
    try:
        without = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
        assert "mnist data not found" in without.stderr and "--download" in without.stderr
        # --device cuda on this GPU-less machine stops right after the data is in place
        done = subprocess.run([*cmd, "--download"], capture_output=True, text=True, env=env,
                              cwd=REPO)  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert "needs a CUDA GPU" in done.stderr, done.stderr
    got = sorted(p.name for p in (fresh / "MNIST" / "raw").iterdir())
    assert got == sorted(p.name for p in served.iterdir())


# -- 6. a report of a sweep's runs ranks them by the sweep's objective ------------------


def _fake_sweep(folder, with_summary: bool = True) -> None:
    """Two trials of a sweep 's': t000 is best on validation, t001 on test."""
    store = ResultsStore(folder)
    config = api.make_config("seed-c").to_dict()
    for n, (lr, val, test) in enumerate([(0.1, 90.0, 80.0), (0.01, 85.0, 88.0)]):
        final = {"train_loss": 0.5, "val_acc": val, "test_acc": test}
        run = store.create_run(
            name=f"s-t{n:03d}", task="classify", status="completed", seed=0,
            config={**config, "name": f"s-t{n:03d}", "train": {**config["train"], "lr": lr}},
            final_metrics=final, iteration=20, group_name="sweep:s",
        )  # fmt: skip
        store.log_metrics(run, 20, final, 1.0)
    if with_summary:
        summary = folder / "sweeps" / "s" / "sweep.json"
        summary.parent.mkdir(parents=True)
        summary.write_text(
            json.dumps({"metric": "val_acc", "direction": "maximize", "split": "validation"})
        )


def test_a_sweeps_report_ranks_by_its_objective_not_by_test(tmp_path):
    _fake_sweep(tmp_path / "runs")
    result = report(group="sweep:s", runs_dir=tmp_path / "runs", out=tmp_path / "out")
    assert result.metric == "val_acc"
    assert "best s-t000: val_acc 90.00" in result.summary  # the sweep's choice, not t001
    assert any("objective the sweep tuned on" in n for n in result.data["notes"])
    # asked for, test is shown; without a sweep.json the task's default stands
    asked = report(group="sweep:s", metric="test_acc", runs_dir=tmp_path / "runs",
                   out=tmp_path / "out2")  # fmt: skip
    assert asked.metric == "test_acc" and "best s-t001" in asked.summary
    _fake_sweep(tmp_path / "bare", with_summary=False)
    bare = report(group="sweep:s", runs_dir=tmp_path / "bare", out=tmp_path / "out3")
    assert bare.metric == "test_acc"
