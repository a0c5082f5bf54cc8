"""Defects found auditing the results store, `rnnlab runs`, the download, the IDX reader and
the benchmark script: each test failed before its fix. Downloads are served from 127.0.0.1."""

from __future__ import annotations

import functools
import gzip
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rnnlab import api
from rnnlab.data import download as download_module
from rnnlab.data.download import download_dataset, verify
from rnnlab.data.idx import parse_idx, read_idx
from rnnlab.data.images import DATASETS, load_split
from rnnlab.errors import ConfigError, DataError, RnnlabError
from rnnlab.results import store as store_module
from rnnlab.results.store import DB_NAME, ORPHANED, ResultsStore
from tests.conftest import REPO, one_line_error, store_with_an_orphan

# -- data: IDX files and downloads ---------------------------------------------------------


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


class _CutShort(_Quiet):
    """Announces the whole file but sends half of it, then hangs up: a dropped connection."""

    def do_GET(self):
        path = Path(self.directory) / self.path.lstrip("/")
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.close_connection = True


@pytest.fixture
def serve(tmp_path):
    """serve(handler) -> (folder, url): a folder served over HTTP on 127.0.0.1."""
    servers = []

    def start(handler=_Quiet):
        folder = tmp_path / f"served{len(servers)}"
        folder.mkdir()
        server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=folder))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return folder, f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("gzip_inside", [True, False])
def test_a_file_whose_name_and_compression_disagree_is_read_as_download_accepted_it(
    data_dir, tmp_path, gzip_inside
):
    # `curl -o t10k-labels-idx1-ubyte URL.gz` (gzip under a plain name), or a file gunzipped
    # but not renamed: download's checksum accepts both, so training must read both; it
    # said "wrong magic number" / "not a valid gzip file" after `download` said "ready"
    packed = (data_dir / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").read_bytes()
    name = "t10k-labels-idx1-ubyte" + ("" if gzip_inside else ".gz")
    path = tmp_path / name
    path.write_bytes(packed if gzip_inside else gzip.decompress(packed))
    assert verify(path, DATASETS["mnist"].md5["t10k-labels-idx1-ubyte"])
    labels = read_idx(path)
    assert labels.shape == (10000,) and list(labels[:5]) == [7, 2, 1, 0, 4]


def test_an_idx_header_whose_size_overflows_is_reported_not_a_crash():
    # 65536**4 is 2**64, which numpy's int64 product wraps to 0: the size check passed and
    # the reshape raised a bare ValueError
    header = bytes([0, 0, 0x08, 4]) + struct.pack(">4I", *(65536,) * 4)
    with pytest.raises(DataError, match="truncated or corrupt"):
        parse_idx(header, "x-idx3-ubyte")


def test_two_downloads_into_one_folder_at_once_both_succeed(data_dir, serve, tmp_path, monkeypatch):
    # compare --jobs 2 --download: two workers fetch the same file into the same folder. Both
    # used one temporary name, so the one that renamed it first left the other's rename
    # failing with a bare FileNotFoundError. Here the other worker runs a whole download
    # between this one's write and its rename.
    served, url = serve()
    for f in (data_dir / "MNIST" / "raw").glob("*.gz"):
        shutil.copy(f, served / f.name)
    root = tmp_path / "shared-data"
    real_replace = os.replace
    other_ran = []

    def replace_after_the_other_worker(src, dst):
        if not other_ran and Path(dst).parent == root / "MNIST" / "raw":
            other_ran.append(True)
            download_dataset(DATASETS["mnist"], root, mirrors=[url])
        real_replace(src, dst)

    monkeypatch.setattr(download_module.os, "replace", replace_after_the_other_worker)
    folder = download_dataset(DATASETS["mnist"], root, mirrors=[url])
    assert other_ran
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in served.iterdir())
    assert load_split(root, DATASETS["mnist"], "test")[0].shape == (10000, 28, 28)


def test_a_dropped_connection_and_a_missing_file_are_said_in_words(data_dir, serve, tmp_path):
    cut_folder, cut_url = serve(_CutShort)
    shutil.copy(data_dir / "MNIST" / "raw" / "train-images-idx3-ubyte.gz", cut_folder)
    _, empty_url = serve()
    with pytest.raises(DataError) as err:
        download_dataset(DATASETS["mnist"], tmp_path / "d", mirrors=[cut_url, empty_url])
    text = str(err.value)
    # was "IncompleteRead(4956211 bytes read, 4956211 more expected)" and "File not found"
    assert "the connection closed after 4,956,211 of 9,912,422 bytes" in text
    assert "HTTP 404" in text
    assert "IncompleteRead" not in text and "\n" not in text
    assert not (tmp_path / "d").exists()  # nothing half-written left behind


# -- the results store and `rnnlab runs` ---------------------------------------------------


def test_a_store_that_cannot_be_written_still_lists_its_orphaned_runs(tmp_path, monkeypatch):
    # a colleague's runs folder, a read-only copy: listing it settled a run whose process
    # had died by writing to the store, and failed with "unexpected OperationalError:
    # attempt to write a readonly database"
    runs = tmp_path / "runs"
    store_with_an_orphan(runs)
    real_connect = sqlite3.connect

    def read_only(*args, **kwargs):  # what SQLite does with a file this user cannot write
        db = real_connect(*args, **kwargs)
        db.execute("PRAGMA query_only = 1")
        return db

    with monkeypatch.context() as patched:
        patched.setattr(store_module.sqlite3, "connect", read_only)
        listed = api.runs(runs)
        assert [(r["name"], r["status"]) for r in listed] == [
            ("killed", "interrupted"),
            ("done", "completed"),
        ]
        assert listed[0]["message"] == ORPHANED
        assert api.run_details(2, runs)["status"] == "interrupted"
    # nothing was written: a writable open settles it for good
    assert ResultsStore(runs, readonly=True).get_run(2)["status"] == "running"


def test_a_locked_store_says_locked_not_unwritable(tmp_path, monkeypatch):
    # was "cannot write the results store in R (database is locked); choose a writable
    # folder with --runs-dir" for a folder that is writable; and a lock met while listing
    # was "unexpected OperationalError"
    runs = tmp_path / "runs"
    store_with_an_orphan(runs)
    opened = ResultsStore(runs)
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT", 0.2, raising=False)
    holder = sqlite3.connect(runs / DB_NAME, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        for call in (lambda: api.runs(runs), opened.list_runs, lambda: opened.get_run(1)):
            with pytest.raises(RnnlabError, match=r"rnnlab.db is locked: another process") as e:
                call()
            assert "writable" not in str(e.value) and "\n" not in str(e.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_runs_folder_that_cannot_be_looked_into_is_one_line(tmp_path, capsys, monkeypatch):
    runs = tmp_path / "runs"
    store_with_an_orphan(runs)
    if os.geteuid() != 0:
        runs.chmod(0o000)
    else:  # permissions do not stop root: the refusal the OS gives anyone else
        real_stat = os.stat

        def refuse(path, *args, **kwargs):
            if Path(path).parent == runs:
                raise PermissionError(13, "Permission denied", str(path))
            return real_stat(path, *args, **kwargs)

        monkeypatch.setattr(os, "stat", refuse)
    try:
        # was "unexpected PermissionError: [Errno 13] Permission denied: 'R/rnnlab.db'"
        err = one_line_error(capsys, ["runs", "--runs-dir", str(runs)])
    finally:
        runs.chmod(0o755)
    assert "cannot look into the runs folder" in err and "permission denied" in err


def test_a_folder_named_like_the_store_is_named_so(tmp_path, capsys):
    (tmp_path / DB_NAME).mkdir()
    # was "cannot write the results store in R (unable to open database file); choose a
    # writable folder with --runs-dir"
    err = one_line_error(capsys, ["runs", "--runs-dir", str(tmp_path)])
    assert f"{DB_NAME} is a folder, not a results store" in err
    with pytest.raises(ConfigError, match="is a folder, not a results store"):
        ResultsStore(tmp_path)


# -- benchmarks/run.py ---------------------------------------------------------------------


def _bench(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(REPO / "benchmarks" / "run.py"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=REPO)


@pytest.mark.parametrize(
    "args, message",
    [
        # a traceback ending in ConfigError
        (["--presets", "sead-c"], "unknown preset 'sead-c'"),
        # a traceback ending in StatisticsError; --iters 0 quietly ran 300 iterations
        (["--rounds", "-1"], "--rounds must be 1 or more, got -1"),
        (["--iters", "0"], "--iters must be 1 or more, got 0"),
        # timed an MNIST RNN against a character model / a bidirectional LSTM as one ratio
        (["--presets", "charlm-tiny"], "cannot train task charlm"),
        (["--presets", "bidirectional-lstm"], "cannot train bidirectional"),
        # the table's header, then "benchmark worker failed: ['rnnlab.errors.DataError: ...']"
        (["--data-dir", "/nonexistent/rnnlab-data"], "mnist data not found in /nonexistent"),
    ],
)
def test_benchmark_refuses_bad_options_in_one_line_before_measuring(args, message):
    done = _bench(*args)
    assert done.returncode == 1 and done.stdout == ""
    err = done.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("benchmarks/run.py: error: ")
    assert message in err
