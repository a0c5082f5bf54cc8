"""One process trains a comparison at a time: a second identical `rnnlab compare` started
while the first trains stops at once with one line, instead of training every run again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import rnnlab
from rnnlab import api
from rnnlab.errors import ComparisonBusy
from rnnlab.experiments.compare import ComparisonInterrupted, compare, plan_comparison, workers
from rnnlab.experiments.compare import lock as lock_mod
from rnnlab.experiments.compare import run as run_mod
from rnnlab.experiments.compare.lock import LOCK_NAME, training_lock
from rnnlab.results.owner import this_process
from tests.conftest import one_line_error

QUICK = {"train.iters": 20}  # hihell: a run takes well under a second
ROOT = Path(__file__).resolve().parents[1]
# A compare whose every run waits, before it trains, for a line on stdin: the test decides
# when the first command's training ends, so the second surely starts while it trains.
GATED = textwrap.dedent(
    """
    import sys
    from rnnlab import cli
    from rnnlab.experiments.compare import workers

    real = workers.train_job

    def gated(job):
        print("training", flush=True)
        sys.stdin.readline()
        return real(job)

    workers.train_job = gated
    sys.exit(cli.main(sys.argv[1:]))
    """
)


def quick_compare(runs_dir, name="locked", **kwargs):
    kwargs.setdefault("overrides", QUICK)
    kwargs.setdefault("seeds", [0, 1])
    return compare("hihell", name=name, runs_dir=runs_dir, verbose=False, **kwargs)


def folder_of(runs_dir: Path, name: str = "locked") -> Path:
    return runs_dir / "compare" / name


def is_free(runs_dir: Path, name: str = "locked") -> bool:
    """Whether this comparison's lock can be taken now (taken and released again)."""
    try:
        with training_lock(folder_of(runs_dir, name), name, runs_dir):
            return True
    except ComparisonBusy:
        return False


def count_calls(monkeypatch, effect=None) -> list:
    calls: list = []
    real = workers.train_job

    def recording(job):
        calls.append(job)
        return effect(job) if effect else real(job)

    monkeypatch.setattr(workers, "train_job", recording)
    return calls


def test_a_second_identical_command_stops_at_once_and_trains_nothing(capsys, tmp_path):
    argv = ["compare", "--preset", "hihell", "--iters", "20", "--seeds", "0-1"]
    argv += ["--name", "twice", "--runs-dir", str(tmp_path), "--quiet"]
    first = subprocess.Popen(
        [sys.executable, "-c", GATED, *argv],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert first.stdout.readline().strip() == "training", first.stderr.read()
        err = one_line_error(capsys, argv)
        assert err == (
            f"rnnlab: error: comparison 'twice' is being trained by another process "
            f"({this_process().rsplit(':', 1)[0]}:{first.pid}) in {tmp_path}; wait for it to "
            "finish, or give this one another --name"
        )
        # the Python API stops the same way
        with pytest.raises(ComparisonBusy, match="'twice' is being trained by another"):
            rnnlab.compare("hihell", name="twice", seeds="0-1", overrides={"train.iters": 20},
                           runs_dir=tmp_path, verbose=False)  # fmt: skip
        # a dry run takes no lock: it plans and says who trains the comparison now
        assert cli_main(["compare", *argv[1:-1], "--dry-run"]) == 0
        assert "Being trained now by another process (" in capsys.readouterr().out
        first.stdin.write("\n\n")
        first.stdin.close()
        assert first.wait(timeout=120) == 0, first.stderr.read()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    runs = api.runs(tmp_path, group="compare:twice")
    assert sorted(r["seed"] for r in runs) == [0, 1]  # each run once, none twice
    assert not (folder_of(tmp_path, "twice") / LOCK_NAME).exists()
    # once the first has finished, the same command only rebuilds the table
    assert cli_main(argv) == 0
    assert len(api.runs(tmp_path, group="compare:twice")) == 2


def cli_main(argv: list[str]) -> int:
    from rnnlab import cli

    return cli.main(argv)


def test_the_lock_is_held_while_training_and_released_after_success(tmp_path, monkeypatch):
    held = []
    real = workers.train_job

    def check(job):
        held.append(not is_free(tmp_path))  # another holder is refused while a run trains
        return real(job)

    count_calls(monkeypatch, check)
    result = quick_compare(tmp_path)
    assert held == [True, True] and len(result.runs) == 2
    assert not (folder_of(tmp_path) / LOCK_NAME).exists() and is_free(tmp_path)


def test_the_lock_is_released_after_an_error_and_after_ctrl_c(tmp_path, monkeypatch):
    def fail(job):
        raise RuntimeError("boom")

    count_calls(monkeypatch, fail)
    with pytest.raises(RuntimeError, match="boom"):
        quick_compare(tmp_path)
    assert is_free(tmp_path)

    def ctrl_c(job):
        raise KeyboardInterrupt

    count_calls(monkeypatch, ctrl_c)
    with pytest.raises(ComparisonInterrupted, match="run the same command again"):
        quick_compare(tmp_path)
    assert is_free(tmp_path)
    monkeypatch.undo()
    assert len(quick_compare(tmp_path).runs) == 2  # and the next command trains


def test_a_held_lock_refuses_in_process_too_and_trains_nothing(tmp_path, monkeypatch):
    calls = count_calls(monkeypatch)
    with training_lock(folder_of(tmp_path), "locked", tmp_path):
        with pytest.raises(ComparisonBusy, match=rf"\({this_process()}\) in {tmp_path};"):
            quick_compare(tmp_path)
        # a plan reads, writes nothing and does not wait: it names the holder
        plan = plan_comparison("hihell", name="locked", runs_dir=tmp_path)
        assert plan.to_dict()["training_by"] == this_process()
    assert calls == [] and api.runs(tmp_path) == []
    assert plan_comparison("hihell", name="locked", runs_dir=tmp_path).training_by() is None
    # another name, or another runs folder, is another comparison: not blocked
    with training_lock(folder_of(tmp_path), "locked", tmp_path):
        quick_compare(tmp_path, name="other")
        quick_compare(tmp_path / "elsewhere")
    assert len(calls) == 4


def test_a_lock_left_by_a_dead_process_never_blocks(tmp_path, monkeypatch):
    folder = folder_of(tmp_path)
    folder.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(
            f"""
            import fcntl, os, socket, sys
            fd = os.open({str(folder / LOCK_NAME)!r}, os.O_RDWR | os.O_CREAT)
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, f"{{socket.gethostname()}}:{{os.getpid()}}".encode())
            print("held", flush=True)
            sys.stdin.readline()
            """
        )],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        assert not is_free(tmp_path)
        assert plan_comparison("hihell", name="locked", runs_dir=tmp_path).training_by() == (
            f"{this_process().rsplit(':', 1)[0]}:{holder.pid}"
        )
    finally:
        holder.send_signal(signal.SIGKILL)  # killed: no chance to clean up
        holder.wait()
    assert (folder / LOCK_NAME).read_text().endswith(f":{holder.pid}")  # left behind
    assert plan_comparison("hihell", name="locked", runs_dir=tmp_path).training_by() is None
    calls = count_calls(monkeypatch)
    assert len(quick_compare(tmp_path).runs) == 2 and len(calls) == 2
    assert not (folder / LOCK_NAME).exists()


def test_runs_finished_while_waiting_for_the_lock_are_not_trained_again(tmp_path, monkeypatch):
    # The race behind the lock: this command planned (nothing done yet), then another
    # identical one trained the whole grid before this one took the lock.
    calls = count_calls(monkeypatch)
    real_lock = run_mod.training_lock

    def other_command_first(*args):
        monkeypatch.setattr(run_mod, "training_lock", real_lock)
        quick_compare(tmp_path)
        return real_lock(*args)

    monkeypatch.setattr(run_mod, "training_lock", other_command_first)
    result = quick_compare(tmp_path)
    assert len(calls) == 2 and all(r.reused for r in result.runs)
    assert len(api.runs(tmp_path)) == 2


def test_with_jobs_only_the_parent_holds_the_lock(tmp_path, monkeypatch):
    seen = []
    real = run_mod.execute

    def observed(todo, jobs, finished):
        seen.append((folder_of(tmp_path) / LOCK_NAME).read_text())
        real(todo, jobs, finished)
        seen.append(is_free(tmp_path))  # the workers hold nothing: still the parent's

    monkeypatch.setattr(run_mod, "execute", observed)
    result = quick_compare(tmp_path, jobs=2, overrides={**QUICK, "threads": 1})
    assert seen == [this_process(), False] and len(result.runs) == 2
    assert is_free(tmp_path)


def test_without_flock_comparisons_train_unlocked(tmp_path, monkeypatch):
    monkeypatch.setattr(lock_mod, "fcntl", None)  # as on Windows
    with training_lock(folder_of(tmp_path), "locked", tmp_path):
        assert len(quick_compare(tmp_path).runs) == 2
    assert not folder_of(tmp_path).joinpath(LOCK_NAME).exists()
    assert os.listdir(folder_of(tmp_path))  # its tables were written


def test_a_store_compare_may_only_read_is_refused_before_any_run(tmp_path, monkeypatch):
    import sqlite3

    quick_compare(tmp_path, name="first", seeds=[0])  # makes the store
    db = sqlite3.connect(tmp_path / "rnnlab.db")
    db.execute("PRAGMA user_version = 999")  # as a newer rnnlab would leave it
    db.commit()
    db.close()
    calls = count_calls(monkeypatch)
    with pytest.raises(rnnlab.RnnlabError, match="newer rnnlab"):
        quick_compare(tmp_path)
    assert calls == []
