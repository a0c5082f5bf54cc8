"""rnnlab compare: grids x seeds on real MNIST slices, one table, resumable, parallel."""

from __future__ import annotations

import csv
import json
import statistics

import pytest
import torch

from rnnlab import api
from rnnlab.errors import ConfigError
from rnnlab.experiments.compare import (
    ComparisonInterrupted,
    compare,
    load_study,
    study_names,
    workers,
)
from rnnlab.experiments.compare import plan as plan_mod
from rnnlab.experiments.compare.axes import parse_axis, parse_seeds
from rnnlab.experiments.compare.plan import plan_runs
from rnnlab.experiments.table import _published
from rnnlab.tasks.classify import ClassifyTask
from tests.conftest import QUICK, one_line_error

TINY = {**QUICK, "model.hidden": 16}


def run_compare(data_dir, runs_dir, **kwargs):
    kwargs.setdefault("overrides", TINY)
    return compare(data_dir=data_dir, runs_dir=runs_dir, verbose=False, **kwargs)


def test_seeds_give_mean_and_std_of_the_runs_in_the_store(data_dir, tmp_path):
    result = run_compare(data_dir, tmp_path, source="seed-c", seeds="0-2")
    (row,) = result.rows
    stored = {r["id"]: r for r in api.runs(tmp_path, group="compare:seed-c")}
    values = [stored[i]["final_metrics"]["test_acc"] for i in row.run_ids]
    assert sorted(stored[i]["seed"] for i in row.run_ids) == [0, 1, 2]
    assert row.runs == row.count == 3
    assert row.mean == pytest.approx(statistics.fmean(values))
    assert row.std == pytest.approx(statistics.stdev(values))
    assert (row.low, row.high) == (min(values), max(values))
    assert len(set(values)) > 1  # the seeds really differ
    # the saved files hold the table and every run behind it
    saved = json.loads(result.files["json"].read_text())
    assert [r["run_id"] for r in saved["runs"]] == row.run_ids
    assert saved["rows"][0]["mean"] == pytest.approx(row.mean)
    with result.files["csv"].open() as f:
        lines = list(csv.DictReader(f))
    assert [float(line["test_acc"]) for line in lines] == pytest.approx(values)
    assert "± " in result.files["markdown"].read_text()


def test_a_finished_comparison_is_not_trained_again_and_a_changed_one_is(
    data_dir, tmp_path, monkeypatch
):
    first = run_compare(data_dir, tmp_path, source="seed-c", seeds=[0, 1])
    calls = []
    real = workers.train_job
    monkeypatch.setattr(workers, "train_job", lambda job: calls.append(job) or real(job))
    again = run_compare(data_dir, tmp_path, source="seed-c", seeds=[0, 1])
    assert calls == [] and all(r.reused for r in again.runs)
    assert again.rows[0].mean == first.rows[0].mean
    # a third seed and longer runs: only what is new is trained
    run_compare(data_dir, tmp_path, source="seed-c", seeds=[0, 1, 2])
    assert len(calls) == 1 and calls[0].config["seed"] == 2
    # longer runs are other settings: refused under this name, whose table would lose its
    # runs (tests/test_compare_input.py), and a new run under a new name
    changed = {"source": "seed-c", "seeds": [0], "overrides": {**TINY, "train.iters": 30}}
    with pytest.raises(ConfigError, match="comparison 'seed-c' exists with other settings"):
        run_compare(data_dir, tmp_path, **changed)
    longer = run_compare(data_dir, tmp_path, name="seed-c-30", **changed)
    assert len(calls) == 2 and longer.runs[0].metrics and not longer.runs[0].reused
    assert len(api.runs(tmp_path, group="compare:seed-c")) == 3


def test_grid_over_presets_and_fields(data_dir, tmp_path):
    result = run_compare(
        data_dir,
        tmp_path,
        grid=["preset=seed-c,sheet-lstm", "model.layers=1,2"],
        name="mixed",
    )
    cells = [(r.cell["preset"], r.cell["model.layers"]) for r in result.rows]
    assert cells == [("seed-c", "1"), ("seed-c", "2"), ("sheet-lstm", "1"), ("sheet-lstm", "2")]
    runs = {r["id"]: r for r in api.runs(tmp_path, group="compare:mixed")}
    for row in result.rows:
        (run,) = (runs[i] for i in row.run_ids)
        cfg = run["config"]
        assert cfg["model"]["layers"] == int(row.cell["model.layers"])
        assert cfg["model"]["cell"] == ("rnn_tanh" if row.cell["preset"] == "seed-c" else "lstm")
        assert cfg["model"]["hidden"] == 16  # the fixed settings reach every grid point
        model = api.load(run["checkpoint"], data_dir=data_dir).model
        assert row.parameters == sum(p.numel() for p in model.parameters())
    best = max(result.rows, key=lambda r: r.mean)
    assert result.best is best


def test_ctrl_c_keeps_finished_runs_and_the_next_call_resumes_exactly(
    data_dir, tmp_path, monkeypatch
):
    over = {**TINY, "train.iters": 40, "train.eval_every": 20}
    straight = run_compare(
        data_dir, tmp_path / "a", source="sheet-rnn", seeds=[0, 1], overrides=over
    )

    original = ClassifyTask.batch

    def interrupt_seed_1_at_30(self, iteration):
        if self.config.seed == 1 and iteration == 30:
            raise KeyboardInterrupt
        return original(self, iteration)

    monkeypatch.setattr(ClassifyTask, "batch", interrupt_seed_1_at_30)
    with pytest.raises(ComparisonInterrupted, match="1 of 2 runs done.*same command again"):
        run_compare(data_dir, tmp_path / "b", source="sheet-rnn", seeds=[0, 1], overrides=over)
    statuses = {r["seed"]: r["status"] for r in api.runs(tmp_path / "b")}
    assert statuses == {0: "completed", 1: "interrupted"}
    monkeypatch.setattr(ClassifyTask, "batch", original)

    resumed = run_compare(
        data_dir, tmp_path / "b", source="sheet-rnn", seeds=[0, 1], overrides=over
    )
    assert [r.reused for r in resumed.runs] == [True, False]
    assert len(api.runs(tmp_path / "b")) == 2  # the interrupted run was continued, not redone
    for a, b in zip(straight.runs, resumed.runs):
        assert a.metrics == b.metrics
        pa = torch.load(a.checkpoint, weights_only=True)["model"]
        pb = torch.load(b.checkpoint, weights_only=True)["model"]
        assert all(torch.equal(pa[k], pb[k]) for k in pa)


def test_a_diverged_run_is_reported_and_the_grid_goes_on(data_dir, tmp_path):
    kwargs = {
        "source": "seed-a",
        "grid": {"train.lr": [0.01, 1e6]},
        "overrides": {**TINY, "model.hidden": 32},
        "name": "lr",
    }
    result = run_compare(data_dir, tmp_path, **kwargs)
    ok, blown = result.rows
    assert ok.count == 1 and ok.diverged == 0
    assert blown.count == 0 and blown.diverged == 1 and result.best is ok
    assert api.runs(tmp_path, group="compare:lr")[0]["status"] == "diverged"
    assert "diverged" in result.files["markdown"].read_text()
    table = result.files["markdown"].read_text().splitlines()
    (blown_line,) = [ln for ln in table if ln.startswith("| 1000000.0 |")]
    assert blown_line.endswith("| - |")  # no speed measured: "-", not "0" samples/s
    saved = json.loads(result.files["json"].read_text())
    assert saved["rows"][0]["std"] is None  # one run has no std (not 0)
    # and it is not tried again: it would diverge the same way
    again = run_compare(data_dir, tmp_path, **kwargs)
    assert all(r.reused for r in again.runs)


def test_parallel_jobs_give_the_same_results_as_one_at_a_time(data_dir, tmp_path):
    kwargs = {"source": "seed-c", "grid": ["model.hidden=8,16"], "seeds": [0, 1]}
    # one thread each: the thread count changes float rounding, so it must match to compare
    kwargs["overrides"] = {**QUICK, "threads": 1}
    serial = run_compare(data_dir, tmp_path / "serial", **kwargs)
    parallel = run_compare(data_dir, tmp_path / "parallel", jobs=2, **kwargs)
    assert [r.metrics for r in serial.runs] == [r.metrics for r in parallel.runs]
    assert [(r.cell, r.seed) for r in serial.runs] == [(r.cell, r.seed) for r in parallel.runs]


def test_parallel_runs_record_their_share_of_the_threads(monkeypatch):
    monkeypatch.setattr(plan_mod.os, "cpu_count", lambda: 6)
    planned = plan_runs("x", "seed-c", {"threads": [0, 1]}, [0, 1], [])
    plan_mod.share_threads(planned, jobs=1)
    assert [r.config.threads for r in planned] == [0, 0, 1, 1]
    plan_mod.share_threads(planned, jobs=3)
    assert [r.config.threads for r in planned] == [2, 2, 1, 1]  # a set count is kept


def test_published_figure_only_beside_the_published_recipe():
    full = plan_runs("spec1", None, load_study("spec1").grid, [0], [])
    figures = {r.cell["preset"]: _published(r, "test_acc") for r in full}
    assert figures["seed-c"] == 95.54 and figures["sheet-lstm"] == 98.33
    assert figures["lstm-2ep"] == 97.78
    (short,) = plan_runs("x", "seed-c", {}, [0], [("train.iters", 100)])
    (fashion,) = plan_runs("x", "seed-c", {}, [0], [("data.dataset", "fashion-mnist")])
    (gru,) = plan_runs("x", "gru", {}, [0], [])
    ex2 = plan_runs("ex2-rnn", "sheet-rnn", load_study("ex2-rnn").grid, None, [])
    assert [_published(r, "test_acc") for r in ex2].count(96.91) == 1  # 2 layers, tanh, no FC
    assert _published(short, "test_acc") is None
    assert _published(fashion, "test_acc") is None
    assert _published(gru, "test_acc") is None


@pytest.mark.parametrize("name", study_names())
def test_every_shipped_study_plans_valid_runs(name):
    study = load_study(name)
    planned = plan_runs(name, study.source, study.grid, study.seeds or None, [])
    assert planned and study.description
    expected = 1
    for values in study.grid.values():
        expected *= len(values)
    assert len(planned) == expected * max(1, len(study.seeds))


def test_study_sizes_match_the_exercises():
    assert len(plan_runs("x", "sheet-rnn", load_study("ex2-rnn").grid, None, [])) == 16
    assert len(plan_runs("x", "sheet-lstm", load_study("ex2-lstm").grid, None, [])) == 6


def test_parsing():
    assert parse_axis("model.layers=1,2, 3") == ("model.layers", ["1", "2", "3"])
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("1,5,7-8") == [1, 5, 7, 8]
    for bad in ("model.layers", "=1,2", "model.layers="):
        with pytest.raises(ConfigError, match="--grid expects FIELD=V1,V2"):
            parse_axis(bad)
    for bad in ("a", "3-1", "1,,x"):
        with pytest.raises(ConfigError, match="--seeds expects"):
            parse_seeds(bad)
    with pytest.raises(ConfigError, match="names a seed twice"):
        parse_seeds("1,1")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["compare", "no-such-study"], "unknown study 'no-such-study'; available studies: ex2"),
        (["compare", "--preset", "seed-c", "--grid", "model.hidden"], "--grid expects"),
        (["compare", "--preset", "seed-c", "--seeds", "x"], "--seeds expects"),
        (["compare", "--preset", "seed-c", "--grid", "model.nope=1,2"], "unknown field 'nope'"),
        (
            ["compare", "--preset", "seed-c", "--grid", "model.hidden=8,0"],
            "model.hidden must be a positive integer, got 0 (grid point hidden=0)",
        ),
        (
            ["compare", "--preset", "seed-c", "--grid", "model.cell=lstm,xyz"],
            "unknown cell type (model.cell) 'xyz'",
        ),
        (["compare", "--preset", "seed-c", "--grid", "seed=1,2"], "vary the seed with --seeds"),
        (
            ["compare", "--preset", "seed-c", "--seeds", "0-1", "--seed", "3"],
            "either --seed or --seeds",
        ),
        (
            [
                "compare",
                "--preset",
                "seed-c",
                "--grid",
                "model.hidden=8,16",
                "--set",
                "model.hidden=4",
            ],
            "'model.hidden' is both a grid axis and a fixed setting",
        ),  # fmt: skip
        (["compare", "--grid", "model.hidden=8,16"], "say what to compare"),
        (["compare", "--preset", "seed-c", "--jobs", "0"], "--jobs must be a positive integer"),
        (["compare", "ex2-rnn", "--preset", "seed-c"], "a study names its own preset"),
        (["compare", "--preset", "nope"], "unknown preset 'nope'"),
    ],
)
def test_bad_input_is_one_line(capsys, tmp_path, argv, message):
    err = one_line_error(capsys, [*argv, "--runs-dir", str(tmp_path)])
    assert message in err


def test_unknown_metric_names_the_available_ones_before_any_training(data_dir, tmp_path):
    with pytest.raises(ConfigError, match="--metric val_acc: classify runs .* test_loss, test_acc"):
        run_compare(data_dir, tmp_path, source="seed-c", metric="val_acc")
    assert not (tmp_path / "rnnlab.db").exists()  # refused before the store was opened


def test_cli_prints_the_table_and_json(data_dir, tmp_path, capsys):
    from rnnlab import cli

    argv = ["compare", "--preset", "seed-c", "--seeds", "0-1", "--hidden", "16"]
    argv += ["--set", "data.train_limit=1000", "--set", "data.test_limit=200"]
    argv += ["--iters", "20", "--eval-every", "10", "--batch-size", "50"]
    argv += ["--data-dir", str(data_dir), "--runs-dir", str(tmp_path), "--name", "cli"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "Comparison 'cli': 2 runs (1 configuration x 2 seeds)" in out
    assert "[2/2] seed 1: test_acc" in out and "test_acc (mean ± std)" in out
    assert cli.main([*argv, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["name"] == "cli" and len(data["runs"]) == 2
    assert all(r["reused"] for r in data["runs"])
    assert cli.main(["compare", "--list"]) == 0
    assert "ex2-rnn" in capsys.readouterr().out


def test_cli_ctrl_c_exits_130_like_train(data_dir, tmp_path, monkeypatch, capsys):
    from rnnlab import cli

    def interrupt(self, iteration):
        raise KeyboardInterrupt

    monkeypatch.setattr(ClassifyTask, "batch", interrupt)
    argv = ["compare", "--preset", "seed-c", "--hidden", "16", "--iters", "20"]
    argv += ["--set", "data.train_limit=1000", "--set", "data.test_limit=200"]
    argv += ["--data-dir", str(data_dir), "--runs-dir", str(tmp_path)]
    assert cli.main(argv) == 130
    err = capsys.readouterr().err
    assert err.startswith("rnnlab: error: comparison") and "same command again" in err


def test_dry_run_shows_the_plan_and_trains_nothing(tmp_path, capsys):
    from rnnlab import cli

    runs = tmp_path / "runs"
    argv = ["compare", "--preset", "sheet-rnn", "--grid", "model.layers=1,2", "--seeds", "0-2"]
    argv += ["--runs-dir", str(runs), "--data-dir", str(tmp_path / "no-data"), "--dry-run"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Comparison 'sheet-rnn': 6 runs (2 configurations x 3 seeds)")
    assert "nothing trained" in out[0]
    assert out[1] == f"In {runs / 'compare' / 'sheet-rnn'}: 0 already done, 0 to resume, 6 to train"
    assert out[2:] == [
        "  sheet-rnn[layers=1]  seeds 0-2  21,514 parameters",
        "  sheet-rnn[layers=2]  seeds 0-2  54,538 parameters",
    ]
    assert cli.main([*argv, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["runs"] == 6 and data["metric"] == "test_acc"
    assert [c["cell"] for c in data["configurations"]] == [{"model.layers": v} for v in "12"]
    assert data["configurations"][1]["config"]["model"]["layers"] == 2
    assert not runs.exists()  # no store, no folder: a plan writes nothing
    # a bad grid fails the dry run as it would fail the comparison
    code = cli.main([*argv[:4], "model.layers=1,0", *argv[5:]])
    assert code == 1 and "model.layers must be a positive integer" in capsys.readouterr().err


def test_dry_run_knows_what_is_done_and_refuses_what_compare_refuses(data_dir, tmp_path, capsys):
    from rnnlab import cli

    run_compare(data_dir, tmp_path, source="seed-c", seeds=[0, 1], name="same")
    base = ["compare", "--preset", "seed-c", "--runs-dir", str(tmp_path), "--name", "same"]
    base += [f"--set={k}={v}" for k, v in TINY.items()]
    assert cli.main([*base, "--seeds", "0-2", "--dry-run"]) == 0  # more seeds: allowed
    assert "2 already done, 0 to resume, 1 to train" in capsys.readouterr().out
    for changed in (["--seeds", "0"], ["--seeds", "0-1", "--jobs", "2"]):
        err = one_line_error(capsys, [*base, *changed, "--dry-run"])
        assert "comparison 'same' exists with other settings" in err


def test_plan_comparison_is_what_compare_trains(data_dir, tmp_path):
    import rnnlab

    plan = rnnlab.plan_comparison(study="ex2-lstm", overrides=TINY)
    assert plan.name == "ex2-lstm" and plan.configurations == 6 and plan.seeds is None
    result = run_compare(data_dir, tmp_path, source="seed-c", seeds=[0, 1],
                         grid={"model.cell": ["gru"]})  # fmt: skip
    planned = rnnlab.plan_comparison("seed-c", seeds=[0, 1], grid={"model.cell": ["gru"]},
                                     overrides=TINY)  # fmt: skip
    stored = {r["id"]: r["config"] for r in api.runs(tmp_path)}
    assert [stored[o.run_id] for o in result.runs] == [r.config.to_dict() for r in planned.runs]
