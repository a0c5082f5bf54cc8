"""Training a comparison's runs, one after another or several at once in worker processes."""

from __future__ import annotations

import math
import multiprocessing
import signal
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from rnnlab.config import from_dict
from rnnlab.errors import RnnlabError, TrainingDiverged, TrainingInterrupted


class RunNotStarted(TrainingInterrupted):
    """A queued run a worker refused to start: the comparison was interrupted."""


# Set in worker processes only (by _start_worker): the parent's Ctrl-C, as an event the
# parent sets, and whether this worker has itself been interrupted. The pool hands each
# worker its next run ahead of time, so without them the runs queued when Ctrl-C came
# would still be trained, in full, after the Ctrl-C, while the user waits.
_stop_event: Any = None
_interrupted = False


def _start_worker(stop_event: Any) -> None:
    global _stop_event
    _stop_event = stop_event
    signal.signal(signal.SIGINT, _on_sigint)


def _on_sigint(signum: int, frame: Any) -> None:
    # Ctrl-C reaches every process of the terminal's group, the workers too: remember it,
    # then stop as Python's own handler does (the training loop has its own, which saves).
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def _stopping() -> bool:
    return _interrupted or (_stop_event is not None and _stop_event.is_set())


@dataclass
class Job:
    """One run to train, as plain data so it can go to a worker process."""

    position: int
    total: int
    label: str
    config: dict[str, Any]
    resume: str | None
    data_dir: str | None
    runs_dir: str
    group: str
    metric: str
    verbose: bool
    iterations: int = 0  # when known without the data (not set by epochs)


def train_job(job: Job) -> dict[str, Any]:
    """Train (or resume) one run; returns its store row. Runs in the parent or a worker."""
    from rnnlab import api
    from rnnlab.results.store import ResultsStore

    global _interrupted
    if _stopping():
        raise RunNotStarted(f"{job.label} not started: the comparison was interrupted")
    prefix = f"  [{job.position}/{job.total} {job.label}]"

    def progress(iteration: int, row: dict[str, Any]) -> None:
        if job.verbose and job.metric in row:
            of = f"/{job.iterations}" if job.iterations else ""
            print(
                f"{prefix} iteration {iteration}{of}: loss {row.get('train_loss', math.nan):.4f}"
                f", {job.metric} {row[job.metric]:.4f}",
                flush=True,
            )

    try:
        if job.resume:
            result = api.train(
                resume=job.resume, data_dir=job.data_dir, runs_dir=job.runs_dir,
                verbose=False, on_evaluate=progress,
            )  # fmt: skip
        else:
            result = api.train(
                from_dict(job.config), data_dir=job.data_dir, runs_dir=job.runs_dir,
                verbose=False, group=job.group, on_evaluate=progress,
            )  # fmt: skip
        run_id = result.run_id
    except (KeyboardInterrupt, TrainingInterrupted):
        if _stop_event is not None:  # in a worker: it starts no other run
            _interrupted = True
        raise
    except TrainingDiverged as exc:
        if job.verbose:
            print(f"{prefix} diverged: {exc}", flush=True)
        run_id = exc.run_id
    row = ResultsStore(job.runs_dir).get_run(run_id)
    assert row is not None
    return row


def execute(todo: list[tuple[int, Job]], jobs: int, finished: Any) -> None:
    if jobs == 1 or len(todo) <= 1:
        for count, (index, job) in enumerate(todo, 1):
            finished(index, train_job(job), count)
        return
    # spawn, not fork: forking a process that already runs OpenMP threads can hang the child.
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    # no more workers than runs: a --jobs beyond them (even 10**20) only idles, or overflows
    # the pool's queue size
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(todo)), mp_context=context,
        initializer=_start_worker, initargs=(stop,),
    )  # fmt: skip
    pending: dict[Future, int] = {}
    count = 0
    try:
        for index, job in todo:
            pending[pool.submit(train_job, job)] = index
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                index = pending.pop(future)
                count += 1
                finished(index, future.result(), count)
    except BrokenProcessPool:
        pool.shutdown(wait=False, cancel_futures=True)
        raise RnnlabError(
            "a worker process of the comparison ended abruptly (killed, out of memory, or, "
            "from a Python script, compare(jobs>1) called outside `if __name__ == "
            '"__main__":`, which worker processes need); finished runs are kept: run it again '
            "to continue, or use jobs=1"
        ) from None
    except BaseException:
        # Workers got the same Ctrl-C and are saving their runs: let them finish that; the
        # runs queued in them are not started (train_job sees the event).
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


# --------------------------------------------------------------------------- results
