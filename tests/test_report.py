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
        ([""], "comparison is empty; name one, or leave it out to report every run"),
        (["--name", ""], "--name is empty; name one, or leave it out"),
        (["--group", " "], "--group is empty; name one, or leave it out"),
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
    err = one_line_error(capsys, ["report", "--runs-dir", str(runs_dir / "rnnlab.db")])
    assert err.endswith("rnnlab.db is a file, not a runs folder; give --runs-dir the folder "
                        "that holds rnnlab.db and the run folders (default ./runs)")  # fmt: skip
    err = one_line_error(capsys, ["report", "nope", "--runs-dir", str(runs_dir)])
    assert err.endswith("comparisons in " + str(runs_dir / "compare") + ": seed-c")
    blocker = tmp_path / "file"
    blocker.write_text("")
    argv = ["report", "seed-c", "--runs-dir", str(runs_dir), "--out", str(blocker / "sub")]
    err = one_line_error(capsys, argv)
    assert f"cannot write the report to {blocker / 'sub'}" in err and "with --out" in err


# --------------------------------------------------------------------------- audit fixes


def _store_copy(runs_dir, tmp_path):
    """The fixture's store alone (no comparison files), in a folder a test may change."""
    import shutil

    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(runs_dir / "rnnlab.db", copy / "rnnlab.db")
    return copy


def test_a_narrowed_comparison_shows_the_selections_own_figures(runs_dir, tmp_path):
    # the whole comparison: its saved table is the page's table
    whole = report("seed-c", runs_dir=runs_dir, out=tmp_path / "whole")
    assert whole.data["comparison_covers"] is True
    assert "<h2>Configurations</h2>" not in whole.html.read_text()
    # three of its four runs: the saved table is of other runs, so the selection's own
    # configurations table comes first and the saved one says what it covers
    part = report("seed-c", runs=[1, 2, 3], runs_dir=runs_dir, out=tmp_path / "part")
    assert part.data["comparison_covers"] is False
    page = part.html.read_text()
    assert "<h2>Configurations</h2>" in page and "not only this report's selection" in page
    mine = page.split("<h2>Configurations</h2>", 1)[1].split("</table>", 1)[0]
    conf = part.data["configurations"][0]
    assert conf["run_ids"] == [1, 2] and conf["final"]["n"] == 2
    d = part.data["decimals"]
    assert f"{conf['final']['mean']:.{d}f} ± {conf['final']['std']:.{d}f}" in mine
    # another metric than the comparison's: its table (of test_acc) is not the page's either
    other = report("seed-c", metric="test_loss", runs_dir=runs_dir, out=tmp_path / "loss")
    assert other.data["comparison_covers"] is False
    assert "final test_loss (mean ± std)" in other.html.read_text()


def test_an_empty_range_selects_no_run_not_every_run(runs_dir):
    from rnnlab.errors import ConfigError

    for empty in (range(0), range(5, 1)):
        with pytest.raises(ConfigError, match=r"selects no run; leave runs out"):
            report(runs=empty, runs_dir=runs_dir)


def test_json_on_stdout_is_strict_json_as_report_json_is(capsys, runs_dir, tmp_path):
    from rnnlab.cli import main

    store_dir = _store_copy(runs_dir, tmp_path)
    store = ResultsStore(store_dir)
    final = dict(store.get_run(5)["final_metrics"], test_loss=float("nan"))
    store.update_run(5, final_metrics=final)  # an evaluation that overflowed, say
    argv = ["report", "--runs", "5", "--runs-dir", str(store_dir), "--json"]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 0

    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    data = json.loads(capsys.readouterr().out, parse_constant=refuse)
    assert data["runs"][0]["final_metrics"]["test_loss"] is None
    saved = json.loads((tmp_path / "out" / "report.json").read_text(), parse_constant=refuse)
    assert saved["runs"][0]["final_metrics"] == data["runs"][0]["final_metrics"]


def test_configurations_the_fields_alone_name_alike_get_their_run_name(runs_dir, tmp_path):
    # runs 5 and 6 are sheet-lstm at lr 0.001 and 0.01; a run "other" repeats run 5's
    # config under another name: "train.lr=0.001" twice, unless the name is added
    store_dir = _store_copy(runs_dir, tmp_path)
    store = ResultsStore(store_dir)
    row = store.get_run(5)
    config = dict(row["config"], name="other")
    new = store.create_run(
        name="other", task=row["task"], status="completed", seed=row["seed"], config=config,
        final_metrics=row["final_metrics"],
    )  # fmt: skip
    result = report(runs=[5, 6, new], runs_dir=store_dir, out=tmp_path / "out")
    labels = [c["label"] for c in result.data["configurations"]]
    assert len(set(labels)) == 3
    assert labels == ["sheet-lstm train.lr=0.001", "train.lr=0.01", "other train.lr=0.001"]


def test_a_comparison_without_axes_names_its_configuration_by_its_runs(data_dir, tmp_path):
    # seed-spread's form: one recipe over seeds, no grid; its one configuration was "-"
    common = {"data_dir": data_dir, "runs_dir": tmp_path, "verbose": False}
    quick = {**QUICK, "train.iters": 10, "model.hidden": 8}
    compare("seed-c", seeds=[0, 1], overrides=quick, name="spread", **common)
    result = report("spread", runs_dir=tmp_path)
    assert [c["label"] for c in result.data["configurations"]] == ["spread"]
    assert result.summary.startswith("2 runs in 1 configuration; test_acc ")


def test_a_folder_in_place_of_a_report_file_is_refused_before_any_is_written(
    capsys, runs_dir, tmp_path
):
    out = tmp_path / "out"
    (out / "report.html").mkdir(parents=True)
    err = one_line_error(
        capsys, ["report", "seed-c", "--runs-dir", str(runs_dir), "--out", str(out)]
    )
    assert f"{out / 'report.html'} is a folder" in err and "--out" in err
    assert sorted(p.name for p in out.iterdir()) == ["report.html"]  # no PNG written halfway


def test_one_run_has_no_std_rather_than_a_std_of_zero(runs_dir, tmp_path):
    result = report(runs=[5], runs_dir=runs_dir, out=tmp_path / "one")
    (conf,) = result.data["configurations"]
    assert conf["final"]["n"] == 1 and conf["final"]["std"] is None
    stored = json.loads((tmp_path / "one" / "report.json").read_text())
    assert stored["configurations"][0]["final"]["std"] is None
