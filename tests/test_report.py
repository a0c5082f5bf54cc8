"""rnnlab report: curves, final values and one HTML page, from the results store alone."""

from __future__ import annotations

import base64
import json
import os
import re
import statistics
import subprocess
import sys

import pytest

import rnnlab
from rnnlab import api
from rnnlab.errors import TrainingDiverged, TrainingInterrupted
from rnnlab.experiments.compare import compare
from rnnlab.experiments.report import parse_run_ids, report, varying_fields
from rnnlab.results.store import ResultsStore
from rnnlab.tasks.classify import ClassifyTask
from tests.conftest import QUICK, one_line_error

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def runs_dir(data_dir, tmp_path_factory):
    """One store: a comparison (2 configurations x 2 seeds, runs 1-4), two plain runs of
    sheet-lstm (5, 6), an interrupted seed-a (7), a diverged seed-a (8) and a hihell run (9)."""
    folder = tmp_path_factory.mktemp("report-runs")
    common = {"data_dir": data_dir, "runs_dir": folder, "verbose": False}
    compare("seed-c", grid=["model.hidden=8,16"], seeds=[0, 1], overrides=QUICK, **common)
    for lr in (0.001, 0.01):
        api.train("sheet-lstm", overrides={**QUICK, "model.hidden": 8, "train.lr": lr}, **common)

    original = ClassifyTask.batch

    def interrupt_at_15(self, iteration):
        if iteration == 15:
            raise KeyboardInterrupt
        return original(self, iteration)

    mp = pytest.MonkeyPatch()
    mp.setattr(ClassifyTask, "batch", interrupt_at_15)
    with pytest.raises(TrainingInterrupted):
        api.train("seed-a", overrides={**QUICK, "model.hidden": 8}, **common)
    mp.undo()
    with pytest.raises(TrainingDiverged):
        api.train("seed-a", overrides={**QUICK, "model.hidden": 32, "train.lr": 1e6}, **common)
    api.train("hihell", overrides={"train.iters": 10}, runs_dir=folder, verbose=False)
    return folder


def _run_ids_in_table(page: str) -> list[int]:
    """The id column of the runs table (the last table with an 'id' header)."""
    table = page.rsplit("<tr><th>id</th>", 1)[1].split("</table>", 1)[0]
    return [int(i) for i in re.findall(r"<tr[^>]*><td[^>]*>(\d+)</td>", table)]


def test_comparison_report_plots_the_stores_curves_mean_and_std(runs_dir):
    old_umask = os.umask(0o022)  # the usual one: files come out as open() would make them
    try:
        result = rnnlab.report("seed-c", runs_dir=runs_dir)
    finally:
        os.umask(old_umask)
    assert result.folder == runs_dir / "reports" / "seed-c"
    for path in (result.curves, result.loss, result.final):
        content = path.read_bytes()
        assert content.startswith(PNG) and len(content) > 5000
    assert result.html.stat().st_mode & 0o777 == 0o644  # readable by others, to be shared
    assert result.paths["html"] == result.html and result.paths["folder"] == result.folder
    store = ResultsStore(runs_dir)
    group = store.list_runs(group="compare:seed-c")
    assert result.run_ids == sorted(r["id"] for r in group) == [1, 2, 3, 4]
    data = json.loads(result.json.read_text())
    assert data["metric"] == result.metric == "test_acc" and data["mode"] == "configurations"
    assert data["varying"] == ["model.hidden"]

    history = {i: store.metrics(i) for i in result.run_ids}
    for run in data["runs"]:
        rows = history[run["id"]]
        assert run["curve"]["iteration"] == [h["iteration"] for h in rows] == [10, 20]
        assert run["curve"]["value"] == [h["test_acc"] for h in rows]
        assert run["loss"]["value"] == [h["train_loss"] for h in rows]

    saved = json.loads((runs_dir / "compare" / "seed-c" / "comparison.json").read_text())
    assert [c["label"] for c in data["configurations"]] == ["hidden=8", "hidden=16"]
    for conf, row in zip(data["configurations"], saved["rows"]):
        assert conf["run_ids"] == row["run_ids"] and len(conf["run_ids"]) == 2
        curves = [[h["test_acc"] for h in history[i]] for i in conf["run_ids"]]
        assert conf["curve"]["mean"] == pytest.approx([statistics.fmean(v) for v in zip(*curves)])
        assert conf["curve"]["std"] == pytest.approx([statistics.stdev(v) for v in zip(*curves)])
        assert conf["curve"]["n"] == [2, 2]
        # the final values agree with the table rnnlab compare saved
        assert conf["final"]["mean"] == pytest.approx(row["mean"])
        assert conf["final"]["std"] == pytest.approx(row["std"])
    assert any(c["final"]["std"] > 0 for c in data["configurations"])  # the seeds differ

    page = result.html.read_text()
    assert _run_ids_in_table(page) == result.run_ids
    assert "model.hidden" in page and "Comparison seed-c" in page
    assert "model.layers" not in page and "train.lr" not in page  # the same in every run
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 3
    assert base64.b64decode(images[0]) == result.curves.read_bytes()
    assert "2.13.0" in page or data["runs"][0]["versions"]["torch"] in page


def test_plain_runs_one_line_each_and_the_selection_filters(runs_dir):
    by_name = report(name="sheet-*", runs_dir=runs_dir)
    assert by_name.run_ids == [5, 6] and by_name.folder.name.startswith("name-sheet-all-")
    data = by_name.data
    assert data["mode"] == "runs" and data["varying"] == ["train.lr"]
    assert [c["label"] for c in data["configurations"]] == ["train.lr=0.001", "train.lr=0.01"]
    page = by_name.html.read_text()
    assert _run_ids_in_table(page) == [5, 6] and "train.lr" in page

    assert report(runs="1,5", runs_dir=runs_dir).run_ids == [1, 5]
    assert report(runs=[2, 3], runs_dir=runs_dir).run_ids == [2, 3]
    assert report(name="seed-c*", runs="2-3", runs_dir=runs_dir).run_ids == [2, 3]
    # a task picks its own primary metric
    hihell = report(task="hihell", runs_dir=runs_dir)
    assert hihell.run_ids == [9] and hihell.metric == "acc"
    assert report(task="classify", runs_dir=runs_dir).run_ids == list(range(1, 9))
    # --group compare:NAME is the comparison, table and all
    assert report(group="compare:seed-c", runs_dir=runs_dir).data["comparison"]["axes"] == [
        "model.hidden"
    ]
    assert parse_run_ids("3, 5-7") == [3, 5, 6, 7]


def test_interrupted_and_diverged_runs_are_shown_with_curves_where_they_have_them(runs_dir):
    result = report(name="seed-a", metric="test_acc", runs_dir=runs_dir)
    interrupted, diverged = result.data["runs"]
    assert (interrupted["status"], diverged["status"]) == ("interrupted", "diverged")
    stored = ResultsStore(runs_dir).metrics(interrupted["id"])
    assert interrupted["curve"]["iteration"] == [h["iteration"] for h in stored] == [10]
    assert diverged["curve"] == {"iteration": [], "value": []} and diverged["final"] is None
    # neither counts in a final mean: they did not finish
    assert all(c["final"]["n"] == 0 for c in result.data["configurations"])
    page = result.html.read_text()
    assert "<td>interrupted</td>" in page and "<td>diverged</td>" in page
    last = f"{interrupted['final']:.{result.data['decimals']}f} (last)"  # its value at iteration 10
    assert last in page
    assert f"run {diverged['id']} (diverged) has no test_acc values" in page
    assert result.final.read_bytes().startswith(PNG)


def test_cli_prints_the_files_and_a_summary_and_json(capsys, runs_dir, tmp_path):
    from rnnlab.cli import main

    out = tmp_path / "page"
    assert main(["report", "seed-c", "--runs-dir", str(runs_dir), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Report for comparison 'seed-c': 4 runs in 2 configurations; best hidden=" in text
    assert str(out / "report.html") in text and str(out / "curves.png") in text
    names = sorted(p.name for p in out.iterdir())
    assert names == ["curves.png", "final.png", "loss.png", "report.html", "report.json"]

    assert main(["report", "--runs", "5,6", "--runs-dir", str(runs_dir), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in data["runs"]] == [5, 6] and data["metric"] == "test_acc"
    assert data["files"]["html"].endswith("report.html")


def test_import_stays_cheap():
    code = (
        "import sys, rnnlab; rnnlab.report; "
        "print(sorted(m for m in ('torch', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert "report" in rnnlab.__all__


def test_varying_fields_are_the_differing_leaves():
    a = {"seed": 0, "model": {"hidden": 8, "cell": "lstm"}, "train": {"lr": 0.1, "sizes": [1]}}
    b = {"seed": 1, "model": {"hidden": 16, "cell": "lstm"}, "train": {"lr": 0.1, "sizes": [2]}}
    c = {"seed": 0, "model": {"hidden": 8, "cell": "lstm", "attention": True}, "train": {}}
    assert varying_fields([a, b]) == ["seed", "model.hidden", "train.sizes"]
    assert varying_fields([a, c]) == ["train.lr", "train.sizes", "model.attention"]
    assert varying_fields([a, a]) == []


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--name", "nothing*"], "no runs match the selection (name 'nothing*') in "),
        (["--group", "compare:other"], "no runs match the selection (group 'compare:other')"),
        (
            ["--metric", "bleu", "--task", "classify"],
            "no selected run has the metric 'bleu'; they have: test_acc, test_loss, train_loss",
        ),
        ([], "several tasks (classify, hihell) with different metrics"),
        (["--runs", "1,99"], "run 99 is not in the selection (runs 1,99)"),
        (["--runs", "x"], "--runs expects run ids, e.g. 3,5,8 or 3-8; got 'x'"),
        (["seed-c", "--group", "sweep:a"], "give a comparison name or --group, not both"),
    ],
)
def test_selection_errors_are_one_line(capsys, runs_dir, tmp_path, argv, message):
    out = tmp_path / "never"
    err = one_line_error(capsys, ["report", *argv, "--runs-dir", str(runs_dir), "--out", str(out)])
    assert message in err
    assert not out.exists()  # nothing written before the selection is known to be good


def test_store_comparison_and_out_errors_name_the_fix(capsys, runs_dir, tmp_path):
    err = one_line_error(capsys, ["report", "--runs-dir", str(tmp_path / "empty")])
    assert "no results store in" in err and "--runs-dir" in err
    err = one_line_error(capsys, ["report", "nope", "--runs-dir", str(runs_dir)])
    assert err.endswith("comparisons in " + str(runs_dir / "compare") + ": seed-c")
    blocker = tmp_path / "file"
    blocker.write_text("")
    argv = ["report", "seed-c", "--runs-dir", str(runs_dir), "--out", str(blocker / "sub")]
    err = one_line_error(capsys, argv)
    assert f"cannot write the report to {blocker / 'sub'}" in err and "with --out" in err
