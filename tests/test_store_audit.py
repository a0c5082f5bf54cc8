"""Audit of the results store and `rnnlab runs`: a store read without writing (opened read-only,
or one this user or this rnnlab may not write) answers as a writable one would. Each test
failed before its fix, except those for a corrupt file and for two writers at once, which
guard what already worked."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from rnnlab import api
from rnnlab.cli import main
from rnnlab.errors import ConfigError, RnnlabError
from rnnlab.results import store as store_module
from rnnlab.results.store import DB_NAME, ORPHANED, SCHEMA_VERSION, ResultsStore
from tests.conftest import REPO, dead_owner, one_line_error, store_with_an_orphan

# The runs table of the first release: no group_name, owner or resumes.
_FIRST_RELEASE = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, task TEXT NOT NULL,
    status TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL, seed INTEGER,
    device TEXT, precision TEXT, config TEXT NOT NULL, versions TEXT, data_dir TEXT,
    run_dir TEXT, checkpoint TEXT, iteration INTEGER DEFAULT 0, total_iterations INTEGER,
    wall_time REAL DEFAULT 0, samples_per_sec REAL, final_metrics TEXT, best_metrics TEXT,
    message TEXT
);
CREATE TABLE metrics (
    run_id INTEGER NOT NULL, iteration INTEGER NOT NULL, name TEXT NOT NULL, value REAL,
    wall_time REAL, PRIMARY KEY (run_id, iteration, name)
);
INSERT INTO runs (name, task, status, created, updated, config)
    VALUES ('old', 'classify', 'completed', 1, 1, '{}');
"""


def _raw(runs: Path, sql: str) -> list[tuple]:
    """Rows as the file holds them, read past the store."""
    db = sqlite3.connect(runs / DB_NAME)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def _sql(runs: Path, script: str) -> None:
    runs.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(runs / DB_NAME)
    db.executescript(script)
    db.commit()
    db.close()


@pytest.fixture
def unwritable(monkeypatch):
    """unwritable(): from then on, every store connection is as SQLite gives one for a file
    this user cannot write."""
    real_connect = sqlite3.connect

    def read_only(*args, **kwargs):
        db = real_connect(*args, **kwargs)
        db.execute("PRAGMA query_only = 1")
        return db

    return lambda: monkeypatch.setattr(store_module.sqlite3, "connect", read_only)


# -- runs whose process has died, read without writing ------------------------------------


def test_a_read_only_store_shows_a_dead_process_run_as_interrupted(tmp_path):
    # listing a store opened read-only (what compare's plan reads) showed it 'running'
    runs = tmp_path / "runs"
    store_with_an_orphan(runs)
    store = ResultsStore(runs, readonly=True)
    listed = store.list_runs()
    assert [(r["name"], r["status"]) for r in listed] == [
        ("killed", "interrupted"),
        ("done", "completed"),
    ]
    assert listed[0]["message"] == ORPHANED
    assert store.get_run(2, settle=True)["status"] == "interrupted"
    assert _raw(runs, "SELECT status FROM runs WHERE id = 2") == [("running",)]  # unwritten
    # as the writable store answers, which settles it for good
    assert [r["status"] for r in ResultsStore(runs).list_runs()] == ["interrupted", "completed"]


def test_filters_and_limit_see_the_settled_status_when_the_store_is_not_written(tmp_path):
    # `--status running` listed the dead run (shown 'interrupted'); `--status interrupted`
    # missed it
    runs = tmp_path / "runs"
    store_with_an_orphan(runs)
    ResultsStore(runs).create_run(name="live", task="hihell", config={}, status="interrupted")
    store = ResultsStore(runs, readonly=True)
    assert store.list_runs(status="running") == []
    assert [r["name"] for r in store.list_runs(status="interrupted")] == ["live", "killed"]
    assert [r["name"] for r in store.list_runs(status="interrupted", limit=1)] == ["live"]
    assert [r["name"] for r in store.list_runs(status="completed", limit=1)] == ["done"]
    assert [r["name"] for r in store.list_runs(limit=2)] == ["live", "killed"]


def test_runs_json_of_an_unwritable_store_filters_by_the_settled_status(
    tmp_path, capsys, unwritable
):
    runs = tmp_path / "runs"
    store_with_an_orphan(runs)
    unwritable()
    assert main(["runs", "--status", "interrupted", "--json", "--runs-dir", str(runs)]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["name"], row["status"], row["message"]) == ("killed", "interrupted", ORPHANED)
    assert main(["runs", "--status", "running", "--runs-dir", str(runs)]) == 0
    assert "no recorded run matches the filter" in capsys.readouterr().out


# -- stores that are old, empty, missing, foreign, newer or unwritable ------------------------


def test_an_older_store_read_without_writing_has_every_key_and_filter(tmp_path):
    # "no such column: group_name" (compare's plan of a first-release store) and "no such
    # column: owner" (run_details); its rows lacked group_name, owner and resumes in --json
    old = tmp_path / "old"
    _sql(old, _FIRST_RELEASE)
    new = tmp_path / "new"
    ResultsStore(new).create_run(name="new", task="classify", config={})
    store = ResultsStore(old, readonly=True)
    (row,) = store.list_runs()
    assert list(row) == list(ResultsStore(new).list_runs()[0])
    assert (row["group_name"], row["owner"], row["resumes"]) == (None, None, None)
    assert store.list_runs(group="compare:x") == []
    assert store.get_run(1, settle=True)["name"] == "old"


def test_an_older_store_this_user_cannot_write_is_still_listed(tmp_path, unwritable):
    # was "cannot write the results store in R (attempt to write a readonly database)":
    # opening it tried to add the newer columns
    runs = tmp_path / "runs"
    _sql(runs, _FIRST_RELEASE)
    unwritable()
    assert [r["name"] for r in api.runs(runs)] == ["old"]
    assert api.run_details(1, runs)["group_name"] is None
    with pytest.raises(RnnlabError, match="this user cannot write it") as err:
        ResultsStore(runs).create_run(name="x", task="classify", config={})
    assert "\n" not in str(err.value)


def test_writing_a_store_that_became_unwritable_is_one_line(tmp_path, unwritable):
    # "unexpected OperationalError: attempt to write a readonly database" from train
    store = ResultsStore(tmp_path)
    unwritable()
    for write in (
        lambda: store.create_run(name="x", task="classify", config={}),
        lambda: store.log_metrics(1, 1, {"loss": 1.0}, 0.1),
    ):
        with pytest.raises(RnnlabError, match="cannot write the results store in .*writable"):
            write()


@pytest.mark.parametrize("kind", ["empty file", "no file", "no folder"])
def test_a_store_with_no_runs_yet_reads_as_empty_when_read_only(tmp_path, kind):
    # "no such table: runs" for an empty rnnlab.db; "unable to open database file" without one
    runs = tmp_path / "runs"
    if kind != "no folder":
        runs.mkdir()
    if kind == "empty file":
        (runs / DB_NAME).touch()
    store = ResultsStore(runs, readonly=True)
    assert store.list_runs(group="g") == [] and store.list_runs(status="running") == []
    assert store.get_run(1, settle=True) is None and not store.has_run(1)
    assert store.metrics(1) == []
    made = (runs / DB_NAME).exists()  # reading makes nothing, nor writes the empty file
    assert made == (kind == "empty file") and (not made or (runs / DB_NAME).stat().st_size == 0)


def test_another_programs_database_is_refused_when_read_only_too(tmp_path):
    # read-only, it was "unexpected OperationalError: no such table: runs"
    _sql(tmp_path, "CREATE TABLE foo (x);")
    with pytest.raises(ConfigError, match="is not an rnnlab results store"):
        ResultsStore(tmp_path, readonly=True).list_runs()


def test_a_new_store_records_its_layout_version(tmp_path):
    ResultsStore(tmp_path)
    assert _raw(tmp_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    _sql(tmp_path / "old", _FIRST_RELEASE)
    ResultsStore(tmp_path / "old")  # an older store is brought up to date
    assert _raw(tmp_path / "old", "PRAGMA user_version") == [(SCHEMA_VERSION,)]


def test_a_newer_rnnlabs_store_is_read_but_not_written(tmp_path):
    # adding a run failed as "the results store is corrupt (NOT NULL constraint failed:
    # runs.project); move it aside": a newer layout's column this rnnlab does not fill
    runs = tmp_path / "runs"
    newer = SCHEMA_VERSION + 1
    schema = store_module._SCHEMA.replace(
        "owner TEXT\n", "owner TEXT,\n    resumes TEXT,\n    project TEXT NOT NULL\n"
    )
    insert = "INSERT INTO runs (name, task, status, created, updated, config, owner, project)"
    _sql(
        runs,
        f"""{schema}
        {insert} VALUES ('done', 'hihell', 'completed', 1, 1, '{{}}', NULL, 'p');
        {insert} VALUES ('killed', 'hihell', 'running', 2, 2, '{{}}', '{dead_owner()}', 'p');
        PRAGMA user_version = {newer};""",
    )
    listed = api.runs(runs)
    assert [(r["name"], r["status"], r["project"]) for r in listed] == [
        ("killed", "interrupted", "p"),
        ("done", "completed", "p"),
    ]
    with pytest.raises(RnnlabError, match=f"a newer rnnlab wrote it \\(store version {newer}"):
        ResultsStore(runs).create_run(name="x", task="hihell", config={})
    assert _raw(runs, "SELECT status FROM runs WHERE name = 'killed'") == [("running",)]
    assert _raw(runs, "PRAGMA user_version") == [(newer,)]


# -- values ---------------------------------------------------------------------------------


def test_text_that_is_not_utf8_is_shown_not_refused(tmp_path, capsys):
    # "unexpected OperationalError: Could not decode to UTF-8 column 'name'" for a row another
    # program wrote
    ResultsStore(tmp_path)
    _sql(
        tmp_path,
        "INSERT INTO runs (name, task, status, created, updated, config, message) VALUES "
        "(CAST(X'626164ff' AS TEXT), 'classify', 'failed', 1, 1, '{}', CAST(X'fe' AS TEXT));",
    )
    assert api.runs(tmp_path)[0]["name"] == "bad\ufffd"
    assert main(["runs", "--runs-dir", str(tmp_path)]) == 0
    assert "bad\ufffd" in capsys.readouterr().out
    assert main(["runs", "1", "--json", "--runs-dir", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out)["message"] == "\ufffd"


def test_a_final_metric_that_is_no_number_is_listed_as_a_dash(tmp_path, capsys):
    # TypeError "unsupported format string passed to NoneType.__format__": a null, as a
    # strict JSON writer stores NaN
    store = ResultsStore(tmp_path)
    store.create_run(name="x", task="classify", config={}, final_metrics={"test_acc": None})
    assert main(["runs", "--runs-dir", str(tmp_path)]) == 0
    line = capsys.readouterr().out.splitlines()[1]
    assert line.split()[1:5] == ["x", "classify", "running", "0"] and " - " in line


def test_runs_of_a_bad_store_are_one_line(tmp_path, capsys):
    (tmp_path / DB_NAME).write_bytes(b"\x00garbage" * 600)
    err = one_line_error(capsys, ["runs", "--runs-dir", str(tmp_path), "--json"])
    assert "is corrupt" in err


# -- two writers at once --------------------------------------------------------------------

_WRITER = """
import sys
from rnnlab.results.store import ResultsStore
store = ResultsStore(sys.argv[1])
for i in range(6):
    run = store.create_run(name=f"{sys.argv[2]}-{i}", task="classify", config={"i": i})
    for it in range(4):
        store.log_metrics(run, it, {"loss": 1.0, "acc": 0.5}, 0.1)
    store.add_resume(run, {"iteration": i})
    store.update_run(run, status="completed", final_metrics={"acc": 0.5})
    store.list_runs(limit=3)
"""


def test_two_processes_recording_at_once_both_keep_every_row(tmp_path):
    ResultsStore(tmp_path)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(tmp_path), tag],
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("a", "b")
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    rows = api.runs(tmp_path)
    assert len(rows) == 12 and {r["status"] for r in rows} == {"completed"}
    assert all(r["resumes"] == [{"iteration": int(r["name"][-1])}] for r in rows)
    assert _raw(tmp_path, "SELECT count(*) FROM metrics") == [(12 * 4 * 2,)]
