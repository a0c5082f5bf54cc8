"""The results store: every run and its metrics over time in one embedded SQLite file.

Any table or plot can be rebuilt from it: a run row holds the full config, seed, versions,
device and timing; the metrics table holds every evaluation. Writers open a short-lived
connection with a generous busy timeout, so parallel runs sharing a file wait for each
other instead of failing with "database is locked".
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rnnlab.config import MAX_INT
from rnnlab.errors import ConfigError, RnnlabError
from rnnlab.results.owner import owner_gone

DB_NAME = "rnnlab.db"
# The store's layout, as SQLite's user_version: an rnnlab that meets a higher one (a newer
# rnnlab's store) reads what it knows of it but adds nothing, rather than write rows the newer
# layout does not expect. 0 is a store from before versions were recorded.
SCHEMA_VERSION = 1
# How long a connection waits for another process's write to end before giving up, seconds.
BUSY_TIMEOUT = 60.0
STATUSES = ("running", "completed", "stopped", "interrupted", "diverged", "failed")
ORPHANED = (
    "its process ended without recording how (killed, crashed or the machine restarted); "
    "resume it from its last.pt"
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    task TEXT NOT NULL,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    seed INTEGER,
    device TEXT,
    precision TEXT,
    config TEXT NOT NULL,
    versions TEXT,
    data_dir TEXT,
    run_dir TEXT,
    checkpoint TEXT,
    iteration INTEGER DEFAULT 0,
    total_iterations INTEGER,
    wall_time REAL DEFAULT 0,
    samples_per_sec REAL,
    final_metrics TEXT,
    best_metrics TEXT,
    message TEXT,
    group_name TEXT,
    owner TEXT
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    iteration INTEGER NOT NULL,
    name TEXT NOT NULL,
    value REAL,
    wall_time REAL,
    PRIMARY KEY (run_id, iteration, name)
);
"""

_JSON_COLUMNS = ("config", "versions", "final_metrics", "best_metrics", "resumes")


class ResultsStore:
    def __init__(self, runs_dir: str | Path, readonly: bool = False) -> None:
        """The store in `runs_dir`, made (or brought up to date) there; `readonly` opens an
        existing one only to read it, changing nothing (what a plan or a dry run does)."""
        self.runs_dir = Path(runs_dir)
        self.path = self.runs_dir / DB_NAME
        self.readonly = readonly
        # why this rnnlab may not add to the store (another user's file, a newer layout)
        # while it may still read it; None when it may
        self.refusal: str | None = "it was opened to read only" if readonly else None
        check_runs_folder(self.runs_dir)
        if readonly:
            with self._connect() as db:
                _check_is_store(db, self.path)
            return
        try:
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                _check_is_store(db, self.path)  # before anything is added to another's file
                self.refusal = _bring_up_to_date(db)
        except (OSError, sqlite3.OperationalError) as exc:
            raise RnnlabError(
                f"cannot write the results store in {self.runs_dir} ({exc}); "
                "choose a writable folder with --runs-dir"
            ) from None

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if self.readonly and not self.path.is_file():
            db = sqlite3.connect(":memory:")  # no store yet: read as one with no runs
        elif self.readonly:
            db = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT
            )
        else:
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT)
        db.row_factory = sqlite3.Row
        # text another program wrote that is not UTF-8 is shown with U+FFFD, not refused
        db.text_factory = lambda data: data.decode("utf-8", "replace")
        try:
            with db:  # one transaction: commit on success, roll back on error
                yield db
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError):
                if "locked" in str(exc):
                    # not a folder problem (what the callers say of other operational
                    # errors): someone else's transaction never ended
                    raise RnnlabError(
                        f"the results store {self.path} is locked: another process has held "
                        f"it for over {BUSY_TIMEOUT:g} s (an open transaction in a sqlite3 "
                        "shell, say); end that and run again"
                    ) from None
                if any(words in str(exc) for words in _CANNOT_WRITE):
                    raise RnnlabError(
                        f"cannot write the results store in {self.runs_dir} ({exc}); "
                        "choose a writable folder with --runs-dir"
                    ) from None
                raise
            raise RnnlabError(
                f"the results store {self.path} is corrupt ({exc}); move it aside and run "
                "again (each run's folder keeps its config.toml, result.json and checkpoints)"
            ) from None
        finally:
            db.close()

    # -- writing -------------------------------------------------------------------------
    def check_writable(self) -> None:
        """Refuse, in one line, a store this process may only read (before any work that
        would be lost when its first write failed)."""
        if self.refusal is not None:
            raise RnnlabError(f"cannot add to the results store {self.path}: {self.refusal}")

    def create_run(self, **fields: Any) -> int:
        self.check_writable()
        now = time.time()
        fields = {"created": now, "updated": now, "status": "running", **fields}
        cols, values = _encode(fields)
        marks = ", ".join("?" for _ in cols)
        with self._connect() as db:
            cur = db.execute(f"INSERT INTO runs ({', '.join(cols)}) VALUES ({marks})", values)
            return int(cur.lastrowid)

    def update_run(self, run_id: int, **fields: Any) -> None:
        self.check_writable()
        fields = {"updated": time.time(), **fields}
        cols, values = _encode(fields)
        sets = ", ".join(f"{c} = ?" for c in cols)
        with self._connect() as db:
            db.execute(f"UPDATE runs SET {sets} WHERE id = ?", (*values, run_id))

    def log_metrics(
        self, run_id: int, iteration: int, metrics: dict[str, float], wall_time: float
    ) -> None:
        self.check_writable()
        rows = [(run_id, iteration, k, float(v), wall_time) for k, v in metrics.items()]
        with self._connect() as db:
            db.executemany("INSERT OR REPLACE INTO metrics VALUES (?, ?, ?, ?, ?)", rows)

    def add_resume(self, run_id: int, entry: dict[str, Any]) -> None:
        """Append one entry to a run's `resumes` in a single statement, so two writers never
        lose each other's entry."""
        self.check_writable()
        with self._connect() as db:
            db.execute(
                "UPDATE runs SET resumes = json_insert(COALESCE(resumes, '[]'), '$[#]', json(?)) "
                "WHERE id = ?",
                (json.dumps(entry), run_id),
            )

    def has_run(self, run_id: int) -> bool:
        return self.get_run(run_id) is not None

    # -- reading -------------------------------------------------------------------------
    def get_run(self, run_id: int, settle: bool = False) -> dict[str, Any] | None:
        """One run's row; `settle` first marks runs whose process is gone interrupted, as
        listing does (a run shown to a user should not claim to be running). A store this
        process may not write is not changed: the row is settled as it is read."""
        with self._connect() as db:
            settled = not settle or (self.refusal is None and _settle_orphans(db))
            source = _runs_table(db)
            sql = f"SELECT * FROM {source} WHERE id = ?"
            row = db.execute(sql, (run_id,)).fetchone() if source else None
        if row is None:
            return None
        return _decode(row) if settled else _settled(_decode(row))

    def list_runs(
        self,
        name: str | None = None,
        task: str | None = None,
        status: str | None = None,
        group: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        with self._connect() as db:
            # a store this process may not write is settled as it is read (`_settled`)
            settled = self.refusal is None and _settle_orphans(db)
            source = _runs_table(db)
            if source is None:
                return []
            # settling on read moves runs from 'running' to 'interrupted': those two are
            # filtered, and counted for the limit, after it
            later = not settled and status in ("running", "interrupted")
            sql, args = _select_runs(
                source, name=name, task=task, group=group,
                status=None if later else status, limit=None if later else limit,
            )  # fmt: skip
            rows = [_decode(r) for r in db.execute(sql, args).fetchall()]
        if settled:
            return rows
        rows = [_settled(r) for r in rows]
        return [r for r in rows if r["status"] == status][: _sql_limit(limit)] if later else rows

    def metrics(self, run_id: int) -> list[dict[str, Any]]:
        """Metrics over time: one dict per evaluation, {"iteration": i, "wall_time": t, ...}."""
        with self._connect() as db:
            if not _has_table(db, "metrics"):  # an empty file: no store written yet
                return []
            rows = db.execute(
                "SELECT iteration, name, value, wall_time FROM metrics WHERE run_id = ? "
                "ORDER BY iteration",
                (run_id,),
            ).fetchall()
        history: dict[int, dict[str, Any]] = {}
        for r in rows:
            entry = history.setdefault(r["iteration"], {"iteration": r["iteration"]})
            entry[r["name"]] = r["value"]
            entry["wall_time"] = r["wall_time"]
        return list(history.values())


def _select_runs(
    source: str,
    *,
    name: str | None,
    task: str | None,
    status: str | None,
    group: str | None,
    limit: int | None,
) -> tuple[str, list[Any]]:
    """The query that lists runs, newest first, and its arguments."""
    where: list[str] = []
    args: list[Any] = []
    # `is not None`, not truth: an empty filter matches nothing rather than every run
    # (api.runs and report refuse one before it gets here)
    for column, value in (("task", task), ("status", status), ("group_name", group)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if name is not None:
        # GLOB, not LIKE: case-sensitive, as a glob is (LIKE ignores ASCII case). Only *
        # is a wildcard: GLOB's own ? and [ are matched literally, as [?] and [[].
        escaped = "".join({"?": "[?]", "[": "[[]"}.get(c, c) for c in name)
        where.append("name GLOB ?")
        args.append(escaped)
    sql = f"SELECT * FROM {source}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC"
    if _sql_limit(limit) is not None:
        sql += f" LIMIT {_sql_limit(limit)}"
    return sql, args


def _sql_limit(limit: int | None) -> int | None:
    """SQLite's integers end at 2**63 - 1 (a larger LIMIT is a type error), and a limit that
    large cannot leave out any run: it means no limit, as 0 and None do."""
    return int(limit) if limit and int(limit) < MAX_INT else None


# Columns added after the first release: stores written by an older rnnlab gain them on open.
# resumes: one entry per --resume (iteration, checkpoint, settings changed), as JSON.
_LATER_COLUMNS = {"group_name": "TEXT", "owner": "TEXT", "resumes": "TEXT"}
# What SQLite says when the file, its folder or the disk will not take a write.
_CANNOT_WRITE = ("readonly", "unable to open", "disk is full", "disk I/O error")


def _run_columns() -> tuple[str, ...]:
    """Every column of a run this rnnlab writes, in a new store's order: each row read has
    them all (None where an older store lacks one), so --json always has the same keys."""
    db = sqlite3.connect(":memory:")
    try:
        db.executescript(_SCHEMA)
        columns = [row[1] for row in db.execute("PRAGMA table_info(runs)")]
    finally:
        db.close()
    return (*columns, *(c for c in _LATER_COLUMNS if c not in columns))


_RUN_COLUMNS = _run_columns()
# The columns every rnnlab store has had since the first release (the runs' NOT NULL ones): a
# file without them is another program's SQLite database that happens to be called rnnlab.db.
_FIRST_COLUMNS = {
    "runs": ["id", "name", "task", "status", "created", "updated", "config"],
    "metrics": ["run_id", "iteration", "name", "value", "wall_time"],
}


def check_runs_folder(runs_dir: Path) -> None:
    """A runs folder given as a file (--runs-dir /etc/hostname) is a mistake: say so instead
    of listing nothing or failing to create a folder inside it."""
    if runs_dir.exists() and not runs_dir.is_dir():
        raise ConfigError(
            f"{runs_dir} is a file, not a runs folder; give --runs-dir the folder that holds "
            f"{DB_NAME} and the run folders (default ./runs)"
        )
    store = runs_dir / DB_NAME
    try:
        # os.stat, not Path.exists: whether that raises or answers False in a folder this
        # user may not look into depends on the Python version
        is_folder = stat.S_ISDIR(os.stat(store).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return
    except PermissionError:
        raise ConfigError(
            f"cannot look into the runs folder {runs_dir} (permission denied); ask its owner "
            "for access, or choose another folder with --runs-dir"
        ) from None
    if is_folder:
        raise ConfigError(
            f"{store} is a folder, not a results store; move it aside, or choose another "
            "folder with --runs-dir"
        )


def _check_is_store(db: sqlite3.Connection, path: Path) -> None:
    """Refuse an SQLite file with tables of its own that are not the store's. An empty
    database (a new store) and a store from an older rnnlab pass."""
    tables = {
        row["name"]
        for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if not row["name"].startswith("sqlite_")
    }
    if not tables:
        return
    problem = None
    if "runs" not in tables:
        problem = f"it has no 'runs' table, only {', '.join(sorted(tables))}"
    for table, needed in _FIRST_COLUMNS.items():
        if problem is None and table in tables:
            have = {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}
            missing = [c for c in needed if c not in have]
            if missing:
                problem = f"its '{table}' table lacks the column(s) {', '.join(missing)}"
    if problem is not None:
        raise ConfigError(
            f"{path} is not an rnnlab results store ({problem}); choose another folder with "
            "--runs-dir, or move the file aside to start a new store there"
        )


def _bring_up_to_date(db: sqlite3.Connection) -> str | None:
    """Make the store's tables, or add the columns an older rnnlab's store lacks. Returns why
    this rnnlab may only read the store (a newer rnnlab's layout, a file this user cannot
    write), or None."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        return (
            f"a newer rnnlab wrote it (store version {version}; this rnnlab writes version "
            f"{SCHEMA_VERSION}); upgrade rnnlab, or choose another folder with --runs-dir"
        )
    try:
        db.executescript(_SCHEMA)
        _add_missing_columns(db)
        if version < SCHEMA_VERSION:
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except sqlite3.OperationalError as exc:
        if "readonly" not in str(exc):
            raise
        # still read (a colleague's runs folder, a read-only copy), as it is
        return f"this user cannot write it ({exc}); choose a writable folder with --runs-dir"
    return None


def _has_table(db: sqlite3.Connection, table: str) -> bool:
    sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    return db.execute(sql, (table,)).fetchone() is not None


def _runs_table(db: sqlite3.Connection) -> str | None:
    """What to read runs from: the runs table, with a NULL column for each one an older store
    it was not possible to bring up to date lacks; None in an empty file (no runs yet)."""
    have = {row["name"] for row in db.execute("PRAGMA table_info(runs)")}
    if not have:
        return None
    missing = [c for c in _RUN_COLUMNS if c not in have]
    if not missing:
        return "runs"
    return f"(SELECT *, {', '.join(f'NULL AS {c}' for c in missing)} FROM runs)"


def _settle_orphans(db: sqlite3.Connection) -> bool:
    """Mark 'interrupted' the runs whose training process on this machine has ended without
    saying so (a Ctrl-C or an error records its own ending), before they are listed. False
    when the store cannot be written (a read-only copy, another user's runs folder): the
    reader then settles the rows it shows (`_settled`), and reading still works."""
    rows = db.execute("SELECT id, owner FROM runs WHERE status = 'running'").fetchall()
    for row in rows:
        if owner_gone(row["owner"]):
            # only while the dead process still owns it: a process that resumed the run
            # since the look above is its live owner now
            try:
                db.execute(
                    "UPDATE runs SET status = 'interrupted', message = ?, updated = ? "
                    "WHERE id = ? AND status = 'running' AND owner = ?",
                    (ORPHANED, time.time(), row["id"], row["owner"]),
                )
            except sqlite3.OperationalError as exc:
                if "readonly" not in str(exc):
                    raise
                return False
    return True


def _settled(run: dict[str, Any]) -> dict[str, Any]:
    """A decoded row as `_settle_orphans` would have left it, for a store it cannot write."""
    if run.get("status") == "running" and owner_gone(run.get("owner")):
        return {**run, "status": "interrupted", "message": ORPHANED}
    return run


def _add_missing_columns(db: sqlite3.Connection) -> None:
    have = {row["name"] for row in db.execute("PRAGMA table_info(runs)")}
    for column, kind in _LATER_COLUMNS.items():
        if column not in have:
            try:
                db.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")
            except sqlite3.OperationalError as exc:
                # another process opening the same old store added it first
                if "duplicate column" not in str(exc):
                    raise


def _encode(fields: dict[str, Any]) -> tuple[list[str], list[Any]]:
    cols, values = [], []
    for key, value in fields.items():
        cols.append(key)
        values.append(json.dumps(value) if key in _JSON_COLUMNS and value is not None else value)
    return cols, values


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    stored = dict(row)
    # the columns in one order whatever the store's age; a newer rnnlab's extra ones after
    out = {c: stored.pop(c, None) for c in _RUN_COLUMNS} | stored
    for key in _JSON_COLUMNS:
        if out.get(key):
            try:
                out[key] = json.loads(out[key])
            except json.JSONDecodeError:
                raise RnnlabError(
                    f"run {out.get('id')} in the results store has a corrupt '{key}' column; "
                    "repair or delete that row (sqlite3 RUNS/rnnlab.db)"
                ) from None
    return out
