"""Review of the experiment layer (compare, sweep, report, the results store): each test shows
one bug that was found and fixed. Tiny hihell runs (no data needed) keep each under seconds."""

from __future__ import annotations

import pytest
import torch

from rnnlab import api
from rnnlab.experiments.compare import compare
from rnnlab.experiments.compare.plan import plan_runs
from rnnlab.experiments.table import _published
from rnnlab.results.store import ResultsStore
from rnnlab.tasks.hihell import HihellTask

TINY_HIHELL = {"train.iters": 20, "train.eval_every": 10}


def test_a_trial_whose_length_is_in_epochs_is_never_pruned_at_its_last_evaluation(tmp_path):
    """docs/sweep.md: "The last evaluation of a run never prunes it, since the run is complete
    by then". With train.epochs the sweep did not know the last iteration, so a run that had
    trained its whole budget was marked stopped and its trial pruned, out of the ranking."""
    pytest.importorskip("optuna")
    from rnnlab.experiments import sweep as sw

    result = sw.sweep(
        "hihell",
        space={"train.lr": "log:1e-3:1e-1"},
        overrides={"train.epochs": 20, "train.eval_every": 10},  # evaluations at 10 and 20
        trials=4,
        metric="loss",
        prune=True,  # warm-up of 2 x eval_every: only the last evaluation (20) could prune
        sampler="random",
        sampler_seed=2,  # its trial #3 is worse than the median of the three before it
        runs_dir=tmp_path,
        verbose=False,
    )
    assert [t.state for t in result.trials] == ["complete"] * 4
    runs = api.runs(tmp_path, group="sweep:hihell")
    assert {r["status"] for r in runs} == {"completed"}
    assert {r["iteration"] for r in runs} == {20}


def test_no_published_figure_beside_a_run_trained_on_fewer_images():
    """A run holding out 5000 training images as validation trains on 55,000 images: not the
    tutorials' recipe, so their figure (trained on all 60,000) is not its reference."""
    (preset,) = plan_runs("x", "seed-c", {}, [0], [])
    (held_out,) = plan_runs("x", "seed-c", {}, [0], [("data.validation", 5000)])
    assert _published(preset, "test_acc") == 95.54
    assert _published(held_out, "test_acc") is None


def test_samples_per_second_is_the_mean_over_the_runs_that_measured_it(tmp_path, monkeypatch):
    """A diverged run records no speed (None in the store); the table counted it as 0
    samples/s, halving a two-seed row's speed."""
    original = HihellTask.loss

    def nan_for_seed_1(self, model, batch, iteration):
        loss, extra = original(self, model, batch, iteration)
        return (loss * float("nan") if self.config.seed == 1 else loss), extra

    monkeypatch.setattr(HihellTask, "loss", nan_for_seed_1)
    result = compare(
        "hihell", seeds=[0, 1], overrides=TINY_HIHELL, runs_dir=tmp_path, verbose=False
    )
    (row,) = result.rows
    assert (row.count, row.diverged) == (1, 1)
    stored = {r["seed"]: r for r in api.runs(tmp_path, group="compare:hihell")}
    assert stored[1]["status"] == "diverged" and stored[1]["samples_per_sec"] is None
    assert row.samples_per_sec == pytest.approx(stored[0]["samples_per_sec"])


def test_the_run_name_filter_is_case_sensitive_like_any_glob(tmp_path):
    """`--name GLOB` (rnnlab runs, rnnlab report): SQLite's LIKE ignores ASCII case, so
    `--name seed-c` also selected the runs named SEED-C, mixing them into a report."""
    store = ResultsStore(tmp_path)
    for name in ("seed-c", "SEED-C", "Seed-c-long", "seed-c-long", "a?b", "a[b]", "axb"):
        store.create_run(name=name, task="classify", config={})

    def names(pattern):
        return sorted(r["name"] for r in store.list_runs(name=pattern))

    assert names("seed-c") == ["seed-c"]
    assert names("seed*") == ["seed-c", "seed-c-long"]
    assert names("*-long") == ["Seed-c-long", "seed-c-long"]
    assert names("a?b") == ["a?b"]  # only * is a wildcard
    assert names("a[b]") == ["a[b]"]


def test_settling_orphans_leaves_a_run_that_a_live_process_has_just_taken_over(
    tmp_path, monkeypatch
):
    """A run left 'running' by a dead process is settled as interrupted; if another process
    resumes it between the store's look at its owner and the update (parallel compare jobs
    and sweep workers list the store all the time), the update marked the live run
    interrupted, and a third process could then resume it too: two writers on one run."""
    import sqlite3

    from rnnlab.results import store as store_mod
    from rnnlab.results.owner import this_process

    store = ResultsStore(tmp_path)
    run_id = store.create_run(name="r", task="hihell", config={}, owner="gone-host:1")

    def gone_but_resumed_meanwhile(owner):
        # the other process: `rnnlab train --resume` of this run, now its live owner
        with sqlite3.connect(tmp_path / "rnnlab.db", timeout=1) as db:
            db.execute("UPDATE runs SET owner = ? WHERE id = ?", (this_process(), run_id))
        return owner == "gone-host:1"

    monkeypatch.setattr(store_mod, "owner_gone", gone_but_resumed_meanwhile)
    (row,) = store.list_runs()
    assert row["status"] == "running" and row["owner"] == this_process()


def test_a_row_whose_runs_all_diverged_is_valid_json(tmp_path, monkeypatch):
    """Its mean has no runs: NaN, which json.dumps writes but strict readers (jq, JavaScript)
    refuse; comparison.json and compare --json write null instead."""
    import json

    from rnnlab import cli

    monkeypatch.setattr(HihellTask, "loss", lambda *a: (torch.tensor(float("nan")), {}))
    argv = ["compare", "--preset", "hihell", "--iters", "20", "--eval-every", "10", "--json"]
    assert cli.main([*argv, "--runs-dir", str(tmp_path)]) == 0

    def strict(text: str) -> dict:
        return json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))

    (saved,) = tmp_path.glob("compare/*/comparison.json")
    (row,) = strict(saved.read_text())["rows"]
    assert row["diverged"] == 1 and row["mean"] is None


def test_two_selections_never_share_a_report_folder():
    from rnnlab.experiments.report.files import default_slug

    def folder(name=None, ids=None):
        return default_slug(None, None, name, None, ids)

    assert folder(ids=list(range(1, 10))) != folder(ids=list(range(1, 11)))
    assert folder(name="seed*") != folder(name="seedall")
    assert folder(name="seed-c") == "name-seed-c" and folder(ids=[3, 5, 8]) == "runs-3_5_8"
    # ids sorted and spelled as ranges, as --runs takes them: the range 99-5000 is one part
    assert (
        folder(ids=[*range(99, 5001), 3]) == "runs-3_99-5000" == folder(ids=[3, *range(99, 5001)])
    )
    assert folder(ids=list(range(1, 200, 2))).startswith("runs-1_3_5")  # long: cut, hashed
    # a comparison by name or by group is one report; filtered further, another
    by_name = default_slug("cells", "compare:cells", None, None, [])
    assert by_name == default_slug(None, "compare:cells", None, None, []) == "cells"
    assert default_slug("cells", "compare:cells", "x", None, []) != by_name


def test_a_script_without_the_main_guard_gets_one_error_not_a_traceback_a_worker(tmp_path):
    """compare(jobs=2) from a script without `if __name__ == "__main__":`: each spawned worker
    re-imports the script and used to print its own traceback before the caller's error."""
    import subprocess
    import sys

    script = tmp_path / "noguard.py"
    script.write_text(
        "import rnnlab\n"
        "rnnlab.compare('hihell', seeds=[0, 1], jobs=2, overrides={'train.iters': 5},\n"
        f"               runs_dir={str(tmp_path / 'runs')!r}, verbose=False)\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=240, cwd=tmp_path
    )
    assert done.returncode == 1
    assert done.stderr.count("Traceback") == 1  # the caller's only
    assert done.stderr.strip().splitlines()[-1].startswith("rnnlab.errors.RnnlabError: a worker")
