"""rnnlab report, audited: mean curves over finished runs only, and the edges of its options.

The stores here are written directly (no training): each run's status and evaluations are
exactly what a test needs, and the whole file runs in seconds."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from rnnlab.errors import ConfigError
from rnnlab.experiments.report import report
from rnnlab.experiments.report.plots import _series, final_bars
from rnnlab.results.store import ResultsStore
from tests.conftest import one_line_error

ITERS = [20, 40, 60]


def _run(
    store: ResultsStore,
    status: str,
    seed: int,
    accs: list[float],
    *,
    hidden: int = 8,
    name: str = "seed-x",
    final: float | None = None,
) -> int:
    """A run of `name` at `hidden` with test_acc `accs` at iterations 20, 40, ... ; a finished
    run's final test_acc is its last value unless `final` is given."""
    config = {"name": name, "seed": seed, "model": {"hidden": hidden}, "train": {"iters": 60}}
    its = ITERS[: len(accs)]
    last = accs[-1] if accs else None
    final_metrics = {"test_acc": final if final is not None else last} if accs else {}
    run_id = store.create_run(
        name=name, task="classify", status=status, seed=seed, config=config,
        final_metrics=final_metrics, iteration=its[-1] if its else 0, total_iterations=60,
        wall_time=1.0,
    )  # fmt: skip
    for it, acc in zip(its, accs):
        store.log_metrics(run_id, it, {"test_acc": acc, "train_loss": 100.0 / it}, 1.0)
    return run_id


@pytest.fixture
def store(tmp_path: Path) -> ResultsStore:
    return ResultsStore(tmp_path / "runs")


def _report(store: ResultsStore, tmp_path: Path, **kwargs: Any) -> Any:
    return report(runs_dir=store.runs_dir, out=tmp_path / "out", **kwargs)


# --------------------------------------------------------------------------- mean curves


def test_a_mean_curve_averages_the_finished_runs_only(store, tmp_path):
    # two seeds finished; a third was interrupted after its first evaluation, far below them:
    # counted up to where it stopped, it pulled the mean at iteration 20 down to 37.33 and the
    # curve jumped to 61 at iteration 40, where it no longer counted
    _run(store, "completed", 0, [50, 60, 70])
    _run(store, "completed", 1, [52, 62, 72])
    interrupted = _run(store, "interrupted", 2, [10])
    result = _report(store, tmp_path)
    (conf,) = result.data["configurations"]
    assert conf["curve"]["iteration"] == ITERS
    assert conf["curve"]["mean"] == pytest.approx([51, 61, 71])
    assert conf["curve"]["n"] == [2, 2, 2] and conf["curve"]["run_ids"] == [1, 2]
    assert conf["loss"]["n"] == [2, 2, 2]
    # the mean curve ends where the final mean is taken, over the same runs
    assert conf["curve"]["mean"][-1] == pytest.approx(conf["final"]["mean"])

    lines = _series(result.data, "curve")
    assert lines[0]["label"] == "seed-x (mean of 2 runs; left out: 1 interrupted)"
    assert not lines[0]["dashed"]
    # the interrupted run is still drawn, on its own and dashed, up to its last evaluation
    assert [(line["x"], line["y"], line["dashed"]) for line in lines[1:]] == [([20], [10.0], True)]
    page = result.html.read_text()
    assert "mean over its finished runs" in page and "did not finish are dashed" in page
    stored = json.loads(result.json.read_text())
    assert stored["configurations"][0]["curve"]["run_ids"] == [1, 2]
    assert interrupted not in stored["configurations"][0]["curve"]["run_ids"]


def test_a_mean_curve_leaves_out_iterations_not_all_its_runs_reached_and_says_so(store, tmp_path):
    # a seed stopped early (a sweep's pruner) and one evaluation that was not a number: the
    # mean would otherwise average fewer runs at those iterations
    _run(store, "completed", 0, [50, 60, 70])
    _run(store, "stopped", 1, [52, 62])
    _run(store, "completed", 2, [54, math.nan, 74])
    result = _report(store, tmp_path)
    curve = result.data["configurations"][0]["curve"]
    assert curve["iteration"] == [20] and curve["n"] == [3] and curve["dropped"] == 2
    assert curve["mean"] == pytest.approx([52])
    note = "the mean test_acc curve of seed-x leaves out 2 iterations where not all its 3 "
    assert any(n.startswith(note) for n in result.data["notes"])
    assert note in result.html.read_text()


def test_one_finished_run_has_no_std_in_its_curve_either(store, tmp_path):
    _run(store, "completed", 0, [50, 60, 70])
    _run(store, "interrupted", 1, [40])
    result = _report(store, tmp_path)
    (conf,) = result.data["configurations"]
    assert conf["curve"]["std"] == [None, None, None]  # as the final std: none, not 0
    assert conf["final"]["std"] is None
    stored = json.loads(result.json.read_text())
    assert stored["configurations"][0]["curve"]["std"] == [None, None, None]
    assert _series(result.data, "curve")[0]["label"] == "seed-x (1 run; left out: 1 interrupted)"
    assert result.curves.read_bytes().startswith(b"\x89PNG")


def test_a_configuration_without_a_finished_run_draws_its_runs_dashed(store, tmp_path):
    _run(store, "completed", 0, [50, 60, 70], hidden=16)
    _run(store, "completed", 1, [52, 62, 72], hidden=16)
    _run(store, "interrupted", 0, [30, 35])
    _run(store, "diverged", 1, [20])
    result = _report(store, tmp_path)
    small = result.data["configurations"][1]
    assert small["label"] == "model.hidden=8" and small["curve"]["iteration"] == []
    lines = [line for line in _series(result.data, "curve") if line["dashed"]]
    assert [line["label"] for line in lines] == [
        "model.hidden=8 (no finished run: 1 diverged, 1 interrupted)",
        None,  # the configuration is named once
    ]
    assert [line["x"] for line in lines] == [[20, 40], [20]]


def test_the_final_plot_says_how_many_finished_runs_each_bar_averages(store, tmp_path):
    _run(store, "completed", 0, [50, 60, 70])
    _run(store, "completed", 1, [52, 62, 72])
    _run(store, "interrupted", 2, [10])
    bars, _ = final_bars(_report(store, tmp_path).data)
    assert [(b[0], b[1]) for b in bars] == [("seed-x (n=2)", pytest.approx(71))]


# --------------------------------------------------------------------------- options


def test_an_empty_out_or_metric_is_refused_not_read_as_the_default(capsys, store, tmp_path):
    _run(store, "completed", 0, [50, 60, 70])
    runs_dir = str(store.runs_dir)
    err = one_line_error(capsys, ["report", "--runs-dir", runs_dir, "--out", ""])
    assert err.endswith("--out is empty; give one, or leave it out for the default")
    err = one_line_error(capsys, ["report", "--runs-dir", runs_dir, "--metric", " "])
    assert "--metric is empty" in err
    assert not (store.runs_dir / "reports").exists()  # not written to the default folder
    with pytest.raises(ConfigError, match="--out is empty"):
        report(runs_dir=store.runs_dir, out="")


def test_an_out_that_is_a_file_is_named_as_one(capsys, store, tmp_path):
    _run(store, "completed", 0, [50, 60, 70])
    blocker = tmp_path / "page.html"
    blocker.write_text("mine")
    argv = ["report", "--runs-dir", str(store.runs_dir), "--out", str(blocker)]
    err = one_line_error(capsys, argv)
    assert err.endswith(f"cannot write the report to {blocker}: it is a file, not a folder; "
                        "choose a folder with --out")  # fmt: skip
    assert blocker.read_text() == "mine"


def test_help_names_every_default_of_the_metric(capsys):
    from rnnlab.cli import main

    with pytest.raises(SystemExit):
        main(["report", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "the comparison's, else the objective of a sweep's runs, else the task's" in text


def test_names_are_escaped_in_the_page(store, tmp_path):
    name = "<script>x</script> & \"q\" 'a'"
    _run(store, "completed", 0, [50, 60, 70], name=name)
    page = _report(store, tmp_path).html.read_text()
    assert "<script>" not in page
    assert "&lt;script&gt;x&lt;/script&gt; &amp; &quot;q&quot; &#x27;a&#x27;" in page
