"""`rnnlab compare` stopped by a signal to its process: SIGTERM (a scheduler, `timeout`,
`kill`) and Ctrl-C. With --jobs and without, every run in progress stops at its next
iteration boundary, saves its checkpoint and is recorded as interrupted; the command prints
one line that says how to go on and exits 143 (130 for Ctrl-C), leaving no worker process
behind and the comparison's lock free; the same command run again resumes the saved runs.
A worker sent SIGTERM itself (a scheduler signals every process of a job) saves its run too;
a run that fails lets the others finish and starts no more.

The commands run in a child process (tests/conftest's helpers cannot reach worker
processes): a small driver script, which the spawned workers import again, holds the chosen
seeds' runs at iteration AT until the stop reaches them, so each signal is sent while those
runs are surely training, and waited on, never timed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rnnlab import api
from rnnlab.errors import ComparisonBusy
from rnnlab.experiments.compare import compare
from rnnlab.experiments.compare.lock import LOCK_NAME, training_lock

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists() or not hasattr(signal, "SIGUSR1"),
    reason="the tests find processes in /proc; POSIX signals",
)

ROOT = Path(__file__).resolve().parents[1]
AT = 25  # the held iteration: the checkpoint a stop saves is at AT + 1
ITERS = 40
NAME = "sig"
WAIT = 120  # seconds: generous, only ever reached when something is broken

# GATE_SEEDS: runs held at iteration AT until this process is asked to stop (or RELEASE
# appears); CRASH_SEED: a run that raises at AT once every held run is held.
DRIVER = textwrap.dedent(
    f"""
    import os, signal, sys, time
    from pathlib import Path
    from rnnlab.tasks.hihell import HihellTask

    GATE = Path(os.environ["GATE_DIR"])
    HELD = [s for s in os.environ.get("GATE_SEEDS", "").split(",") if s]
    CRASH = os.environ.get("CRASH_SEED")
    real = HihellTask.batch


    def stop_asked():
        # inside the training loop SIGINT's handler is the loop's GracefulStop
        owner = getattr(signal.getsignal(signal.SIGINT), "__self__", None)
        return bool(getattr(owner, "requested", False))


    def until(done):
        deadline = time.monotonic() + {WAIT}
        while not done() and time.monotonic() < deadline:
            time.sleep(0.01)


    def held(self, iteration):
        seed = str(self.config.seed)
        if iteration == {AT} and seed in HELD:
            (GATE / f"at-{{seed}}").write_text(str(os.getpid()))
            until(lambda: stop_asked() or (GATE / "release").exists())
        if iteration == {AT} and seed == CRASH:
            until(lambda: all((GATE / f"at-{{s}}").exists() for s in HELD))
            raise RuntimeError("boom in the run of seed " + seed)
        return real(self, iteration)


    HihellTask.batch = held

    if __name__ == "__main__":
        from rnnlab.cli import main

        sys.exit(main(sys.argv[1:]))
    """
)


def argv(runs: Path, seeds: str, jobs: int) -> list[str]:
    return [
        "compare", "--preset", "hihell", "--iters", str(ITERS), "--set", "train.eval_every=10",
        "--seeds", seeds, "--jobs", str(jobs), "--name", NAME, "--runs-dir", str(runs),
    ]  # fmt: skip


class Command:
    """`rnnlab compare ...` in a child process through the driver, in its own session so
    that a 'terminal' Ctrl-C (SIGINT to its process group) reaches its workers too."""

    def __init__(self, tmp_path: Path, args: list[str], held: str, crash: str = "") -> None:
        self.gate = tmp_path / "gate"
        self.gate.mkdir()
        script = tmp_path / "driver.py"
        script.write_text(DRIVER)
        env = {**os.environ, "GATE_DIR": str(self.gate), "GATE_SEEDS": held, "CRASH_SEED": crash}
        self.held = [s for s in held.split(",") if s]
        # files, not pipes: a worker left behind would hold a pipe open, and reading it
        # would wait for that worker instead of failing at once
        self.out, self.err = tmp_path / "stdout", tmp_path / "stderr"
        with self.out.open("w") as out, self.err.open("w") as err:
            self.process = subprocess.Popen(
                [sys.executable, str(script), *args], cwd=ROOT, env=env,
                start_new_session=True, stdout=out, stderr=err,
            )  # fmt: skip

    def wait_until_held(self) -> list[int]:
        """The pids of the processes whose runs are held at AT, once all of them are."""
        markers = [self.gate / f"at-{s}" for s in self.held]
        deadline = time.monotonic() + WAIT
        while not all(m.exists() and m.read_text() for m in markers):
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the runs were never held:\n{self.err.read_text()}")
            time.sleep(0.02)
        return [int(m.read_text()) for m in markers]

    def children(self) -> list[int]:
        """The command's child processes now: its workers (and multiprocessing's helper)."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                found.append(int(stat.parent.name))
        return found

    def workers(self) -> list[int]:
        return [pid for pid in self.children() if b"spawn_main" in command_line(pid)]

    def finish(self) -> tuple[int, str, str]:
        try:
            self.process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the command did not end after the signal:\n{self.err.read_text()}")
        return self.process.returncode, self.out.read_text(), self.err.read_text()

    def cleanup(self, pids: list[int]) -> None:
        """Whatever a failing test left: release the held runs, end the command, and end any
        worker it left behind (an orphan would train on after the test)."""
        (self.gate / "release").write_text("")
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pid in pids:
            if pid != self.process.pid and alive(pid) and not resource_tracker(pid):
                os.kill(pid, signal.SIGKILL)  # (the tracker ends by itself, cleaning up)


def command_line(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # ended meanwhile
        return b""


def resource_tracker(pid: int) -> bool:
    return b"resource_tracker" in command_line(pid)


def alive(pid: int) -> bool:
    """Whether process `pid` still runs (a zombie, ended but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def waiting_for_a_run(pid: int) -> bool:
    """Whether a worker is blocked reading its pool's queue: between runs, idle. (Where the
    kernel does not tell, the parent's word that it has the worker's result must do.)"""
    try:
        wchan = Path(f"/proc/{pid}/wchan").read_text().strip()
    except OSError:
        return True
    return wchan in ("", "0") or "pipe_read" in wchan


def gone(pids: list[int]) -> bool:
    """Whether every one of `pids` has ended, waited for: an ending process takes a moment."""
    deadline = time.monotonic() + 30
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(alive(p) for p in pids)


def is_free(runs: Path) -> bool:
    try:
        with training_lock(runs / "compare" / NAME, NAME, runs):
            return True
    except ComparisonBusy:
        return False


def by_seed(runs: Path) -> dict[int, dict]:
    return {r["seed"]: r for r in api.runs(runs, group=f"compare:{NAME}")}


def stopped(
    tmp_path: Path, *, seeds: str, jobs: int, held: str, send, crash: str = ""
) -> tuple[int, str, list[int]]:
    """Start the command, wait until the held runs are held, `send(command, pids)`, and
    return its exit status, stderr and the pids of its processes (its workers with --jobs)."""
    runs = tmp_path / "runs"
    command = Command(tmp_path, argv(runs, seeds, jobs), held, crash)
    pids: list[int] = []
    try:
        pids = command.wait_until_held()
        pids = sorted({*pids, *command.children()})
        send(command.process, pids)
        code, _, err = command.finish()
        assert gone(pids), f"processes left running after the command ended: {pids}"
    finally:
        command.cleanup(pids)
    return code, err, pids


def to_parent(signum: int):
    return lambda process, pids: process.send_signal(signum)


def ctrl_c_in_a_terminal(process, pids) -> None:
    """A terminal's Ctrl-C: SIGINT to every process of the foreground group at once."""
    os.killpg(process.pid, signal.SIGINT)


def resume_in_process(runs: Path, seeds: str, jobs: int):
    """The same comparison again (as `rnnlab compare` would run it, from Python)."""
    return compare(
        "hihell", name=NAME, seeds=seeds, jobs=jobs, runs_dir=runs, verbose=False,
        overrides={"train.iters": ITERS, "train.eval_every": 10},
    )  # fmt: skip


def assert_saved_at_the_stop(run: dict, message: str) -> None:
    assert (run["status"], run["iteration"], run["message"]) == ("interrupted", AT + 1, message)
    assert Path(run["checkpoint"]).is_file()


@pytest.mark.parametrize(
    ("signum", "code", "message", "what"),
    [
        (signal.SIGTERM, 143, "stopped by SIGTERM", "stopped by SIGTERM"),
        (signal.SIGINT, 130, "interrupted by the user", "interrupted"),
    ],
)
def test_a_signal_to_the_parent_alone_stops_and_saves_every_worker_run(
    tmp_path, signum, code, message, what
):
    runs = tmp_path / "runs"
    status, err, pids = stopped(tmp_path, seeds="0-2", jobs=2, held="0,1", send=to_parent(signum))
    assert status == code, err
    assert len(pids) >= 2  # two workers, each held in its run (and a helper process)
    lines = err.splitlines()
    assert lines[-1] == (
        f"rnnlab: error: comparison '{NAME}' {what}: 0 of 3 runs done, 2 saved to resume, "
        "1 to train; run the same command again to continue: it keeps the runs done, "
        "resumes the saved ones from their checkpoints and trains the rest"
    )
    stored = by_seed(runs)
    assert sorted(stored) == [0, 1]  # seed 2 was queued: never started
    for seed in (0, 1):
        assert_saved_at_the_stop(stored[seed], message)
    assert is_free(runs) and not (runs / "compare" / NAME / LOCK_NAME).exists()

    if signum == signal.SIGINT:
        return  # what follows takes the same course after either signal
    result = resume_in_process(runs, "0-2", jobs=2)
    assert [r.status for r in result.runs] == ["completed"] * 3
    assert len(by_seed(runs)) == 3  # the two saved runs were continued, not trained again
    assert [r.run_id for r in result.runs[:2]] == [stored[0]["id"], stored[1]["id"]]
    straight = resume_in_process(tmp_path / "straight", "0-2", jobs=2)
    assert [r.metrics for r in result.runs] == [r.metrics for r in straight.runs]


def sigterm_to_the_group(process, pids) -> None:
    """A scheduler's SIGTERM (Slurm at the time limit, scancel): to every process of the job."""
    os.killpg(process.pid, signal.SIGTERM)


def test_sigterm_to_every_process_of_the_job_saves_every_run(tmp_path):
    """The workers get SIGTERM themselves too: each saves its run and ends (before, SIGTERM
    ended them at once, losing what they had trained since their last evaluation)."""
    runs = tmp_path / "runs"
    status, err, _ = stopped(tmp_path, seeds="0-2", jobs=2, held="0,1", send=sigterm_to_the_group)
    assert status == 143, err
    lines = err.splitlines()
    assert len(lines) == 2 and lines[0].startswith("SIGTERM received: stopping every run"), err
    assert "0 of 3 runs done, 2 saved to resume, 1 to train" in lines[1]
    stored = by_seed(runs)
    assert sorted(stored) == [0, 1]
    for seed in (0, 1):
        assert_saved_at_the_stop(stored[seed], "stopped by SIGTERM")
    assert is_free(runs)


def test_sigterm_to_one_worker_saves_its_run_and_the_broken_pool_ends_the_rest_saved(tmp_path):
    """A worker sent SIGTERM alone saves its run and ends; the pool, broken, ends the other
    with SIGTERM and waits for it, which saves its run too. The command says a worker
    ended; running it again resumes both."""
    runs = tmp_path / "runs"

    def to_one_worker(process, pids):
        os.kill(int((tmp_path / "gate" / "at-0").read_text()), signal.SIGTERM)

    status, err, _ = stopped(tmp_path, seeds="0-1", jobs=2, held="0,1", send=to_one_worker)
    assert status == 1, err
    assert err.splitlines()[-1].startswith(
        "rnnlab: error: a worker process of the comparison ended abruptly"
    )
    stored = by_seed(runs)
    for seed in (0, 1):
        assert_saved_at_the_stop(stored[seed], "stopped by SIGTERM")
    assert is_free(runs)
    result = resume_in_process(runs, "0-1", jobs=2)
    assert [r.run_id for r in result.runs] == [stored[0]["id"], stored[1]["id"]]
    assert [r.status for r in result.runs] == ["completed"] * 2


def test_a_terminal_ctrl_c_reaches_parent_and_workers_and_still_saves_once(tmp_path):
    """The workers get the terminal's SIGINT and the parent's request: one stop, not the
    'second Ctrl-C' that would stop at once without saving the iteration in flight."""
    status, err, _ = stopped(tmp_path, seeds="0-1", jobs=2, held="0,1", send=ctrl_c_in_a_terminal)
    assert status == 130, err
    stored = by_seed(tmp_path / "runs")
    for seed in (0, 1):
        assert_saved_at_the_stop(stored[seed], "interrupted by the user")


def test_a_ctrl_c_that_finds_a_worker_idle_does_not_break_the_pool(tmp_path):
    """Seeds 0 and 2 finish in one worker while seed 1 is held in the other: the idle
    worker's Ctrl-C once ended it abruptly, and the broken pool then killed the worker that
    was saving seed 1."""
    runs = tmp_path / "runs"
    command = Command(tmp_path, argv(runs, "0-2", 2), held="1")
    pids: list[int] = []
    try:
        held = command.wait_until_held()
        pids = sorted({*held, *command.children()})
        deadline = time.monotonic() + WAIT
        # the parent has both results (it says so), and the other worker waits for a run
        while "2 of 3 done" not in command.out.read_text() or not all(
            waiting_for_a_run(pid) for pid in command.workers() if pid not in held
        ):
            assert time.monotonic() < deadline and command.process.poll() is None
            time.sleep(0.05)
        ctrl_c_in_a_terminal(command.process, pids)
        status, _, err = command.finish()
        assert gone(pids)
    finally:
        command.cleanup(pids)
    assert status == 130, err
    assert "ended abruptly" not in err and "Traceback" not in err, err
    stored = by_seed(runs)
    assert [stored[s]["status"] for s in (0, 2)] == ["completed", "completed"]
    assert_saved_at_the_stop(stored[1], "interrupted by the user")
    assert "2 of 3 runs done, 1 saved to resume, 0 to train" in err.splitlines()[-1]


def test_sigterm_without_jobs_exits_143_like_train(tmp_path):
    runs = tmp_path / "runs"
    status, err, _ = stopped(
        tmp_path, seeds="0-1", jobs=1, held="0", send=to_parent(signal.SIGTERM)
    )
    assert status == 143, err
    assert err.splitlines() == [
        "SIGTERM received: stopping after this iteration to save the run",
        f"rnnlab: error: comparison '{NAME}' stopped by SIGTERM: 0 of 2 runs done, "
        "1 saved to resume, 1 to train; run the same command again to continue: it keeps "
        "the runs done, resumes the saved ones from their checkpoints and trains the rest",
    ]
    stored = by_seed(runs)
    assert sorted(stored) == [0]
    assert_saved_at_the_stop(stored[0], "stopped by SIGTERM")
    assert is_free(runs)
    result = resume_in_process(runs, "0-1", jobs=1)
    assert [r.status for r in result.runs] == ["completed"] * 2
    assert result.runs[0].run_id == stored[0]["id"] and len(by_seed(runs)) == 2


def test_a_worker_that_crashes_lets_the_others_finish_and_starts_no_more(tmp_path):
    """Seed 1 raises while seed 0 trains in the other worker: seed 0 finishes, seed 2 (queued)
    is not started, the error is the command's one line, and nothing is left running."""
    runs = tmp_path / "runs"
    command = Command(tmp_path, argv(runs, "0-2", 2), held="0", crash="1")
    pids: list[int] = []
    try:
        pids = command.wait_until_held()
        pids = sorted({*pids, *command.children()})
        deadline = time.monotonic() + WAIT
        while "seed 1 failed" not in command.out.read_text():  # the parent knows
            assert time.monotonic() < deadline and command.process.poll() is None
            time.sleep(0.05)
        (command.gate / "release").write_text("")  # seed 0 goes on after the crash
        status, out, err = command.finish()
        assert gone(pids)
    finally:
        command.cleanup(pids)
    assert status == 1, err
    assert err.splitlines()[-1] == (
        "rnnlab: error: unexpected RuntimeError: boom in the run of seed 1 "
        "(set RNNLAB_DEBUG=1 to see the traceback)"
    )
    assert "[2/3] seed 1 failed: boom in the run of seed 1; the runs in progress finish" in out
    stored = by_seed(runs)
    assert sorted(stored) == [0, 1]  # seed 2 never started
    assert (stored[0]["status"], stored[1]["status"]) == ("completed", "failed")
    assert is_free(runs)
    result = resume_in_process(runs, "0-2", jobs=2)
    assert [r.status for r in result.runs] == ["completed"] * 3
    assert result.runs[0].reused and result.runs[0].run_id == stored[0]["id"]
