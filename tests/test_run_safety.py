"""Recorded work is never lost or shared: run folders are never reused, a live run is never
resumed twice, only a run's newest checkpoint continues it, and the runs listing survives odd
input (a huge --limit, a file for --runs-dir, a foreign rnnlab.db)."""

from __future__ import annotations

import json
import re
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from rnnlab import api
from rnnlab.errors import CheckpointError, ConfigError
from rnnlab.results.owner import this_process
from rnnlab.results.store import _SCHEMA, DB_NAME, ResultsStore
from tests.conftest import QUICK, one_line_error

ROOT = Path(__file__).resolve().parent.parent


def tiny(runs_dir: Path, data_dir: Path, **extra) -> api.RunResult:
    """A seed-c run of 20 iterations (evaluated at 10 and 20) on a slice of MNIST."""
    return api.train(
        "seed-c",
        overrides={**QUICK, "model.hidden": 16, **extra},
        data_dir=data_dir,
        runs_dir=runs_dir,
        verbose=False,
    )


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def fake_run(store: ResultsStore, **fields) -> int:
    """A store row without training, for the listing tests."""
    base = {"name": "seed-c", "task": "classify", "config": {}, "status": "completed"}
    return store.create_run(**{**base, **fields})


# --------------------------------------------------------------------------- 1: folders


def test_a_new_store_never_reuses_an_existing_run_folder(data_dir, tmp_path):
    runs = tmp_path / "runs"
    first = tiny(runs, data_dir)
    assert first.run_dir == runs / "seed-c-0001"
    before = folder_bytes(first.run_dir)
    assert {"last.pt", "config.toml", "result.json"} <= before.keys()
    # what the "store is corrupt" message advises: move it aside, run again
    (runs / DB_NAME).rename(tmp_path / "old.db")
    second = tiny(runs, data_dir, seed=7)
    assert second.run_id == 1  # the new store starts its ids again...
    assert second.run_dir != first.run_dir  # ...but not its folders
    assert second.run_dir.parent == runs and second.run_dir.name.startswith("seed-c-0001")
    assert folder_bytes(first.run_dir) == before
    (row,) = api.runs(runs)
    assert Path(row["run_dir"]) == second.run_dir
    assert Path(row["checkpoint"]) == second.run_dir / "last.pt"
    # the suffixed folder is an ordinary run folder: its last.pt continues it in place
    resumed = api.train(
        resume=second.checkpoint, overrides={"train.iters": 30}, data_dir=data_dir, verbose=False
    )
    assert resumed.run_id == 1 and resumed.run_dir == second.run_dir
    assert folder_bytes(first.run_dir) == before


# --------------------------------------------------------------------------- 2: live runs


def test_resuming_a_run_that_is_still_training_is_refused(data_dir, tmp_path, capsys):
    runs = tmp_path / "runs"
    first = tiny(runs, data_dir)
    store = ResultsStore(runs)
    # the run is training in a live process (this one stands in for it)
    store.update_run(first.run_id, status="running", owner=this_process())
    row_before = store.get_run(first.run_id)
    files_before = folder_bytes(first.run_dir)
    with pytest.raises(CheckpointError) as refused:
        api.train(resume=first.checkpoint, data_dir=data_dir, verbose=False)
    text = str(refused.value)
    assert f"run {first.run_id} (seed-c)" in text and this_process() in text
    assert "still training" in text and "Ctrl-C" in text
    err = one_line_error(
        capsys, ["train", "--resume", str(first.checkpoint), "--data-dir", str(data_dir)]
    )
    assert "still training" in err
    # nothing was written: no new run, the row and the folder as they were
    assert store.get_run(first.run_id) == row_before
    assert [r["id"] for r in api.runs(runs)] == [first.run_id]
    assert folder_bytes(first.run_dir) == files_before


def test_a_run_whose_process_has_ended_still_resumes(data_dir, tmp_path):
    runs = tmp_path / "runs"
    first = tiny(runs, data_dir)
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)  # fmt: skip
    host = this_process().rpartition(":")[0]
    ResultsStore(runs).update_run(
        first.run_id, status="running", owner=f"{host}:{ended.stdout.strip()}"
    )
    resumed = api.train(
        resume=first.checkpoint, overrides={"train.iters": 30}, data_dir=data_dir, verbose=False
    )
    assert resumed.run_id == first.run_id and resumed.iteration == 30
    assert api.runs(runs)[0]["status"] == "completed"


# --------------------------------------------------------------------------- 3: continuing


def test_best_pt_without_last_pt_starts_a_new_run(data_dir, tmp_path, capsys):
    runs = tmp_path / "runs"
    first = tiny(runs, data_dir)
    recorded = ResultsStore(runs).get_run(first.run_id)
    metrics = ResultsStore(runs).metrics(first.run_id)
    (first.run_dir / "last.pt").unlink()
    capsys.readouterr()
    branch = api.train(
        resume=first.run_dir / "best.pt", overrides={"train.iters": 30}, data_dir=data_dir
    )
    assert f"Run {branch.run_id}, from " in capsys.readouterr().out
    assert branch.run_id != first.run_id and branch.run_dir != first.run_dir
    # run 1 as it was recorded: status, iteration, wall time, metrics
    store = ResultsStore(runs)
    after = store.get_run(first.run_id)
    for key in ("status", "iteration", "wall_time", "final_metrics", "checkpoint", "updated"):
        assert after[key] == recorded[key], key
    assert store.metrics(first.run_id) == metrics


def test_an_older_copy_put_back_as_last_pt_starts_a_new_run(data_dir, tmp_path):
    runs = tmp_path / "runs"
    first = tiny(runs, data_dir, **{"train.iters": 10})
    older = (first.run_dir / "last.pt").read_bytes()  # iteration 10
    resumed = api.train(
        resume=first.checkpoint, overrides={"train.iters": 20}, data_dir=data_dir, verbose=False
    )
    assert resumed.run_id == first.run_id  # the newest checkpoint continues the run
    (first.run_dir / "last.pt").write_bytes(older)  # the store says 20, last.pt says 10
    metrics = ResultsStore(runs).metrics(first.run_id)
    branch = api.train(
        resume=first.checkpoint, overrides={"train.iters": 30}, data_dir=data_dir, verbose=False
    )
    assert branch.run_id != first.run_id and branch.run_dir != first.run_dir
    assert ResultsStore(runs).get_run(first.run_id)["iteration"] == 20
    assert ResultsStore(runs).metrics(first.run_id) == metrics


# --------------------------------------------------------------------------- 4-6: listing


def test_a_limit_beyond_sqlite_integers_lists_everything(tmp_path, capsys):
    store = ResultsStore(tmp_path)
    ids = [fake_run(store) for _ in range(3)]
    assert [r["id"] for r in api.runs(tmp_path, limit=10**30)] == ids[::-1]
    assert [r["id"] for r in api.runs(tmp_path, limit=2**63 - 1)] == ids[::-1]
    assert [r["id"] for r in api.runs(tmp_path, limit=2)] == ids[:0:-1]
    from rnnlab import cli

    argv = ["runs", "--runs-dir", str(tmp_path), "--json", "--limit", "9" * 23]
    assert cli.main(argv) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == ids[::-1]


def test_runs_dir_that_is_a_file_and_unknown_task(tmp_path, capsys):
    file = tmp_path / "hostname"
    file.write_text("box\n")
    with pytest.raises(ConfigError, match="is a file, not a runs folder"):
        api.runs(file)
    err = one_line_error(capsys, ["runs", "--runs-dir", str(file)])
    assert f"{file} is a file, not a runs folder" in err and "--runs-dir" in err
    fake_run(ResultsStore(tmp_path / "runs"))
    err = one_line_error(capsys, ["runs", "--runs-dir", str(tmp_path / "runs"), "--task", "nope"])
    assert "unknown task 'nope'" in err and "classify" in err
    assert len(api.runs(tmp_path / "runs", task="classify")) == 1


@pytest.mark.parametrize(
    "schema",
    [
        "CREATE TABLE runs (name TEXT, value REAL)",  # a `runs` table of another program
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)",  # no `runs` table at all
    ],
    ids=["other-runs-table", "no-runs-table"],
)
def test_a_foreign_sqlite_file_is_not_taken_for_a_store(data_dir, tmp_path, capsys, schema):
    runs = tmp_path / "runs"
    runs.mkdir()
    with sqlite3.connect(runs / DB_NAME) as db:
        db.execute(schema)
    db.close()
    before = (runs / DB_NAME).read_bytes()
    with pytest.raises(ConfigError, match="is not an rnnlab results store"):
        api.runs(runs)
    err = one_line_error(capsys, ["runs", "--runs-dir", str(runs)])
    assert "not an rnnlab results store" in err and "--runs-dir" in err and "move" in err
    err = one_line_error(
        capsys,
        ["train", "--preset", "seed-c", "--iters", "2", "--runs-dir", str(runs),
         "--data-dir", str(data_dir)],
    )  # fmt: skip
    assert "not an rnnlab results store" in err
    assert (runs / DB_NAME).read_bytes() == before  # the other program's file is untouched
    assert sorted(p.name for p in runs.iterdir()) == [DB_NAME]


def test_an_empty_file_or_an_old_store_is_still_a_store(tmp_path):
    (tmp_path / DB_NAME).write_bytes(b"")  # an empty SQLite database: a new store
    fake_run(ResultsStore(tmp_path))
    assert len(api.runs(tmp_path)) == 1
    old = tmp_path / "old"
    old.mkdir()
    first_release = _SCHEMA.replace(",\n    group_name TEXT,\n    owner TEXT\n", "\n")
    assert "owner" not in first_release
    with sqlite3.connect(old / DB_NAME) as db:  # a store from before group_name and owner
        db.executescript(first_release)
    db.close()
    fake_run(ResultsStore(old), group_name="compare:x")
    assert api.runs(old)[0]["group_name"] == "compare:x"


# --------------------------------------------------------------------------- 7: docs


def test_the_readme_json_example_works_when_a_run_failed(tmp_path):
    text = "\n".join(
        p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
    )
    pipes = re.findall(r"^rnnlab runs .*--json \| (python -c .*)$", text, flags=re.M)
    assert pipes, "the README shows how to read `rnnlab runs --json` from Python"
    store = ResultsStore(tmp_path)
    fake_run(store, final_metrics={"test_acc": 91.5})
    fake_run(store, status="failed", message="disk full")  # before its first evaluation
    fake_run(store, task="charlm", final_metrics={"test_loss": 1.5})
    listing = json.dumps(api.runs(tmp_path), default=str)
    for pipe in pipes:
        done = subprocess.run(
            [sys.executable, *shlex.split(pipe)[1:]], input=listing, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert "91.5" in done.stdout
