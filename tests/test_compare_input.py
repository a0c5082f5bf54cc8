"""rnnlab compare and report: bad input is one line that names the fix, before any training,
from the CLI and the Python API alike; a reused comparison name never mixes two comparisons."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pytest

import rnnlab
from rnnlab import api
from rnnlab.errors import ConfigError
from rnnlab.experiments.compare import compare, workers
from rnnlab.experiments.compare import plan as plan_mod
from rnnlab.experiments.compare.axes import normalize_grid, normalize_seeds, parse_axis
from rnnlab.experiments.ranges import few, ranges_text
from rnnlab.experiments.report import plots, report
from tests.conftest import one_line_error

QUICK = {"train.iters": 20}  # hihell: a run takes well under a second


def quick_compare(runs_dir, source="hihell", **kwargs):
    kwargs.setdefault("overrides", QUICK)
    return compare(source, runs_dir=runs_dir, verbose=False, **kwargs)


def refused(capsys, runs_dir, argv: list[str]) -> str:
    """One `rnnlab: error:` line, and nothing trained: no run in the store."""
    err = one_line_error(capsys, [*argv, "--runs-dir", str(runs_dir)])
    store = runs_dir / "rnnlab.db"
    assert not store.exists() or api.runs(runs_dir) == []
    return err


# --------------------------------------------------------------------------- 1. duplicates


@pytest.mark.parametrize(
    "grid, message",
    [
        ("model.hidden=4,4", "--grid model.hidden=4,4 gives 4 twice; give each value once: "),
        ("model.hidden=4,,8", "has an empty value (two commas in a row, or one at an end); "),
        ("model.hidden=4,8,", "give only values: model.hidden=4,8"),
        ("model.hidden=4,04", "grid points hidden=4 and hidden=04 are the same configuration"),
        ("preset=hihell,hihell", "gives hihell twice"),
    ],
)
def test_duplicate_and_empty_grid_values_are_refused(capsys, tmp_path, grid, message):
    argv = ["compare", "--preset", "hihell", "--grid", grid, "--iters", "20"]
    assert message in refused(capsys, tmp_path, argv)


def test_a_preset_and_a_preset_axis_are_refused(capsys, tmp_path):
    argv = ["compare", "--preset", "hihell", "--grid", "preset=hihell,charlm-tiny"]
    assert "both say what to train" in refused(capsys, tmp_path, argv)


def test_the_api_refuses_duplicates_as_the_cli_does(tmp_path):
    with pytest.raises(ConfigError, match=r"seeds names a seed twice \(1 in \[1, 1\]\)"):
        quick_compare(tmp_path, seeds=[1, 1])
    with pytest.raises(ConfigError, match="gives 4 twice"):
        quick_compare(tmp_path, grid={"model.hidden": [4, 4]})
    with pytest.raises(ConfigError, match="same configuration"):
        quick_compare(tmp_path, grid={"train.lr": [0.05, "5e-2"]})
    with pytest.raises(ConfigError, match="empty value"):
        quick_compare(tmp_path, grid={"model.hidden": [4, ""]})
    assert not (tmp_path / "rnnlab.db").exists() or api.runs(tmp_path) == []


def test_parsing_keeps_good_values():
    assert parse_axis("model.layers= 1, 2") == ("model.layers", ["1", "2"])
    assert normalize_grid({"model.hidden": "4, 8"}) == {"model.hidden": ["4", "8"]}
    assert normalize_grid({"model.hidden": 4}) == {"model.hidden": [4]}
    assert normalize_grid(["model.hidden=4,8"]) == {"model.hidden": ["4", "8"]}
    assert normalize_seeds(3) == [3]
    assert normalize_seeds(range(2)) == [0, 1]
    assert normalize_seeds(["1", 2]) == [1, 2]
    assert ranges_text([7, 1, 2, 3]) == "1-3,7"
    assert few(list(range(100))) == "0, 1, 2, 3, 4 and 95 more"


# --------------------------------------------------------------------------- 2. names


def test_a_name_with_other_settings_is_refused_and_its_table_kept(capsys, tmp_path):
    from rnnlab import cli

    same = ["compare", "--name", "same", "--runs-dir", str(tmp_path)]
    hihell = [*same, "--preset", "hihell", "--iters", "20"]
    assert cli.main([*hihell, "--quiet"]) == 0
    capsys.readouterr()
    table = tmp_path / "compare" / "same"
    saved = {p.name: p.read_bytes() for p in table.iterdir()}
    err = one_line_error(capsys, [*same, "--preset", "charlm-tiny", "--iters", "20"])
    assert "comparison 'same' exists with other settings (its run 1 has task hihell, now " in err
    assert f"give --name NEW for a new comparison, or delete {table} to replace it" in err
    # a quick run after a full one
    err = one_line_error(capsys, [*same, "--preset", "hihell", "--iters", "10"])
    assert "(its run 1 has train.iters 20, now 10)" in err
    assert {p.name: p.read_bytes() for p in table.iterdir()} == saved
    assert len(api.runs(tmp_path)) == 1  # nothing trained by a refused command
    # more seeds extend the comparison; fewer would drop runs from its table
    assert cli.main([*hihell, "--seeds", "0-1", "--quiet"]) == 0
    capsys.readouterr()
    err = one_line_error(capsys, [*hihell, "--seeds", "1"])
    assert "(its run 1 has seed 0, not among the seeds now: 1)" in err
    # a name with the same folder ("same!" -> compare/same) is another comparison
    err = one_line_error(capsys, [*hihell, "--name", "same!"])
    assert f"would be saved in {table}, which holds comparison 'same'" in err
    assert len(api.runs(tmp_path)) == 2


def test_the_same_settings_still_resume_and_rebuild(tmp_path, monkeypatch):
    first = quick_compare(tmp_path, seeds=[0, 1], name="again")
    calls = []
    monkeypatch.setattr(workers, "train_job", lambda job: calls.append(job))
    again = quick_compare(tmp_path, seeds="0-1", name="again")
    assert calls == [] and all(r.reused for r in again.runs)
    assert again.rows[0].run_ids == first.rows[0].run_ids


def test_threads_set_by_jobs_are_named_in_the_refusal(tmp_path, monkeypatch):
    monkeypatch.setattr(plan_mod.os, "cpu_count", lambda: 4)
    over = {**QUICK, "threads": 0}  # hihell pins one thread; 0 lets --jobs choose
    quick_compare(tmp_path, overrides=over, seeds=[0, 1], jobs=1)
    with pytest.raises(ConfigError, match="threads 0, now 2.*give the --jobs used before"):
        quick_compare(tmp_path, overrides=over, seeds=[0, 1], jobs=2)


def test_report_shows_only_the_comparisons_table_and_never_two_tasks(data_dir, tmp_path):
    # What an older rnnlab left: the name reused for another task, one group, two tasks.
    quick_compare(tmp_path, name="same")
    folder = tmp_path / "compare" / "same"
    for path in folder.iterdir():
        path.unlink()  # the refusal's advice: delete the folder to replace the comparison
    quick_compare(tmp_path, source="charlm-tiny", name="same", data_dir=data_dir)
    assert {r["task"] for r in api.runs(tmp_path, group="compare:same")} == {"hihell", "charlm"}
    for kwargs in ({"comparison": "same"}, {"group": "compare:same"}):
        result = report(**kwargs, runs_dir=tmp_path, out=tmp_path / "out")
        assert result.run_ids == [2] and result.metric == "val_loss"
        assert any("run 1 of group 'compare:same' is not in" in n for n in result.data["notes"])
    # a selection of runs of two tasks is refused, whatever the metric
    for metric in (None, "train_loss"):
        with pytest.raises(ConfigError, match=r"several tasks \(charlm, hihell\).*--task"):
            report(runs=[1, 2], metric=metric, runs_dir=tmp_path, out=tmp_path / "never")
    assert not (tmp_path / "never").exists()


# --------------------------------------------------------------------------- 3. messages


@pytest.mark.parametrize(
    "argv, message, wrong",
    [
        (
            ["--grid", "preset=hihell,charlm-tiny"],
            "the grid mixes tasks (hihell: preset=hihell; charlm: preset=charlm-tiny)",
            "--metric",
        ),
        (
            ["seed-spread", "--seed", "3"],
            "study 'seed-spread' repeats every configuration over its seeds 0-9; to train "
            "seed 3 alone give --seeds 3, not --seed",
            "either --seed or --seeds",
        ),
        (
            ["--grid", "preset=hihell,{folder}"],
            "--grid preset={folder} is a folder, not a preset or config file; give a preset",
            "unknown preset",
        ),
        (["--config", "{folder}"], "{folder} is a folder, not a preset", "unknown preset"),
    ],
)
def test_messages_name_the_real_problem(capsys, tmp_path, argv, message, wrong):
    folder = tmp_path / "some-folder"
    folder.mkdir()
    argv = [a.replace("{folder}", str(folder)) for a in argv]
    err = refused(capsys, tmp_path / "runs", ["compare", *argv, "--iters", "20"])
    assert message.replace("{folder}", str(folder)) in err and wrong not in err


# --------------------------------------------------------------------------- 4. API types


def test_compare_takes_the_clis_forms_and_refuses_wrong_types(tmp_path):
    result = quick_compare(tmp_path, grid={"model.hidden": "4,8"})
    assert [r.cell for r in result.rows] == [{"model.hidden": "4"}, {"model.hidden": "8"}]
    one = quick_compare(tmp_path, seeds=3, name="one-seed")
    assert [r.seed for r in one.runs] == [3] and one.seeds == [3]
    cases = [
        ({"grid": {"model.hidden": []}}, "grid['model.hidden'] has no values"),
        ({"grid": {"model.hidden": None}}, "must be a list of values such as [8, 16]"),
        ({"grid": 5}, "grid must be a dict"),
        ({"seeds": []}, "seeds is empty; give at least one seed"),
        ({"seeds": 1.5}, "seeds must be a list of integers"),
        ({"seeds": [True]}, "seeds must be integers, got True"),
        ({"seeds": [-1]}, "a seed must be between 0 and 2**63-1, got -1"),
        ({"seeds": range(10**9)}, "seeds names more than 100,000 seeds; give fewer"),
        ({"jobs": "2"}, "--jobs must be a positive integer, got '2'"),
        ({"jobs": 1.5}, "--jobs must be a positive integer, got 1.5"),
        ({"jobs": 0}, "--jobs must be a positive integer, got 0"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ConfigError) as info:
            quick_compare(tmp_path / "never", **kwargs)
        assert message in str(info.value), kwargs
    assert not (tmp_path / "never").exists()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Runs 1-2: comparison 'h' (hihell, seeds 0-1); run 3: a hihell run named 日本語."""
    folder = tmp_path_factory.mktemp("input-runs")
    quick_compare(folder, name="h", seeds=[0, 1])
    api.train("hihell", overrides={**QUICK, "name": "日本語"}, runs_dir=folder, verbose=False)
    return folder


def test_report_runs_takes_one_id_digit_strings_and_refuses_an_empty_list(store, tmp_path):
    assert report(runs=3, runs_dir=store, out=tmp_path / "a").run_ids == [3]
    assert report(runs=["1", 3], runs_dir=store, out=tmp_path / "b").run_ids == [1, 3]
    assert report(runs=range(2, 9), runs_dir=store, out=tmp_path / "c").run_ids == [2, 3]
    for runs, message in (
        ([], "runs=[] selects no run; leave runs out to report every run"),
        (["x"], "runs must be run ids (positive integers), got 'x'"),
        ([0], "got 0"),
        (2.0, "runs must be run ids: one id, a list"),
        (range(1, 10**9), "names more than 100,000 ids; give a smaller range"),
    ):
        with pytest.raises(ConfigError) as info:
            report(runs=runs, runs_dir=store, out=tmp_path / "never")
        assert message in str(info.value)
    assert not (tmp_path / "never").exists()


# --------------------------------------------------------------------------- 5. --runs


def test_a_range_is_a_bound_and_missing_ids_are_listed_briefly(capsys, store, tmp_path):
    from rnnlab import cli

    argv = ["report", "--runs", "1-5000", "--task", "hihell", "--metric", "acc"]
    assert cli.main([*argv, "--runs-dir", str(store), "--out", str(tmp_path / "a")]) == 0
    assert "Report for task 'hihell', runs 1-5000: 3 runs" in capsys.readouterr().out
    # an id named on its own must be there: a typo is still an error, in one short line
    err = one_line_error(capsys, ["report", "--runs", "2,4000", "--runs-dir", str(store)])
    assert "run 4000 is not in the selection (runs 2,4000)" in err
    with pytest.raises(ConfigError) as info:
        report(runs=[1, *range(10, 5000)], runs_dir=store, out=tmp_path / "b")
    message = str(info.value)
    assert "run 10, 11, 12, 13, 14 and 4,985 more are not in the selection" in message
    assert "(runs 1,10-4999)" in message and len(message) < 300


# --------------------------------------------------------------------------- 6. fonts


def test_names_in_other_scripts_draw_without_glyph_warnings(store, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = rnnlab.report(runs=[2, 3], runs_dir=store, out=tmp_path / "r")
    assert [str(w.message) for w in caught if "Glyph" in str(w.message)] == []
    data = json.loads(result.json.read_text(encoding="utf-8"))
    assert "日本語" in {r["name"] for r in data["runs"]}
    assert "日本語" in result.html.read_text(encoding="utf-8")
    # the caller's own warning filters are left as they were
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn("Glyph 1 missing from font(s) X.", UserWarning, stacklevel=1)
    assert len(caught) == 1


def test_the_cli_report_keeps_stderr_clean(store, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "rnnlab", "report", "--name", "日本*", "--runs-dir", str(store)]
        + ["--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
    )
    assert out.returncode == 0 and out.stderr == ""
    assert "name '日本*'" in out.stdout


def test_only_installed_fallback_fonts_are_named(monkeypatch):
    # a family matplotlib cannot find would be logged for every text drawn
    monkeypatch.setattr(plots, "FALLBACK_FONTS", ("No Such Font 123", "STIXGeneral"))
    assert plots._fallback_families() == ["STIXGeneral"]

    @plots.text_safe
    def draw() -> bytes:
        import matplotlib

        return repr(matplotlib.rcParams["font.family"]).encode()

    # DejaVu Sans first, the fallback glyph by glyph after it; the caller's rcParams kept
    assert draw() == repr(["sans-serif", "STIXGeneral"]).encode()
    import matplotlib

    assert "STIXGeneral" not in matplotlib.rcParams["font.family"]
