"""Training a comparison's runs, one after another or several at once in worker processes.

A comparison stops as one `rnnlab train` does. Ctrl-C or SIGTERM to the command (the parent
process) stops every run in progress at its next iteration boundary: each saves its
checkpoint and is recorded as interrupted; queued runs are not started; the command then
ends with TrainingInterrupted (TrainingTerminated after SIGTERM: exit 143). The parent asks
its workers with SIGUSR1 (stop as after SIGTERM) or SIGUSR2 (as after Ctrl-C), which each
worker hands to its training loop's handler.

A worker sent SIGTERM itself (a scheduler signals every process of the job; a broken pool
ends its other workers so) saves its run the same way, then ends at once, without handing
its result back: the pool that terminates a worker waits for it to die, and the queues it
would write to may be held by a worker that was killed. Between runs it ends at once.
"""

from __future__ import annotations

import math
import multiprocessing
import multiprocessing.util
import os
import signal
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import suppress
from dataclasses import dataclass
from types import FrameType
from typing import Any

from rnnlab.config import from_dict
from rnnlab.errors import RnnlabError, TrainingDiverged, TrainingInterrupted, TrainingTerminated
from rnnlab.training.interrupt import restore_handlers, takes_sigterm


class RunNotStarted(TrainingInterrupted):
    """A queued run a worker refused to start: the comparison was interrupted."""


# The parent's requests to its workers: stop the run in progress as SIGTERM or Ctrl-C would.
_AS_SIGTERM = getattr(signal, "SIGUSR1", None)
_AS_SIGINT = getattr(signal, "SIGUSR2", None)

# Set in worker processes only (by _start_worker): the parent's stop, as a flag the parent
# sets, and whether this worker has itself been interrupted. The pool hands each worker its
# next run ahead of time, so without them the runs queued when Ctrl-C came would still be
# trained, in full, after the Ctrl-C, while the user waits. `_busy`: a run is in train_job.
_stop_flag: Any = None
_interrupted = False
_busy = False
_terminated = False  # this worker was sent SIGTERM: it ends once its run is saved


def _start_worker(stop_flag: Any, ready: Any) -> None:
    global _stop_flag
    _stop_flag = stop_flag
    signal.signal(signal.SIGINT, _on_sigint)
    if hasattr(signal, "SIGTERM") and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)
    if _AS_SIGTERM is not None:
        signal.signal(_AS_SIGTERM, _on_request)
        signal.signal(_AS_SIGINT, _on_request)
    with ready.get_lock():  # this worker may be asked now: the parent signals only these
        slots = ready.get_obj()
        free = [i for i, pid in enumerate(slots) if not pid]
        if free:
            slots[free[0]] = os.getpid()


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    # Ctrl-C reaches every process of the terminal's group, the workers too: remember it,
    # then stop a run being set up as Python's own handler does (the training loop has its
    # own, which saves). Between runs it is only remembered: a KeyboardInterrupt in the
    # pool's own code would end this worker abruptly, and the broken pool would then kill
    # the other workers while they save.
    global _interrupted
    _interrupted = True
    if _busy:
        raise KeyboardInterrupt


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    global _terminated
    if not _busy:  # between runs: end now, as SIGTERM's default does
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    _terminated = True  # train_job ends this process once the run is saved
    _ask(signal.SIGTERM, frame)


def _on_request(signum: int, frame: FrameType | None) -> None:
    """The parent asks this worker to stop: as the signal it got would stop `rnnlab train`."""
    _ask(signal.SIGTERM if signum == _AS_SIGTERM else signal.SIGINT, frame)


def _ask(why: int, frame: FrameType | None) -> None:
    """Stop the run in progress as signal `why` stops `rnnlab train`, once."""
    handler = signal.getsignal(signal.SIGINT)
    if handler is _on_sigint:  # no run in its training loop
        if not _interrupted:
            _on_sigint(why, frame)
        return
    # the training loop's GracefulStop: once, so that a terminal's Ctrl-C, which reached
    # this worker too, does not count twice (a second one stops at once, without saving)
    if getattr(getattr(handler, "__self__", None), "requested", False):
        return
    if callable(handler):
        handler(why, frame)


def _stopping() -> bool:
    return _interrupted or (_stop_flag is not None and bool(_stop_flag.value))


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
    global _busy, _interrupted
    if _stopping():
        raise RunNotStarted(f"{job.label} not started: the comparison was interrupted")
    _busy = True
    try:
        return _train(job)
    except BaseException:
        # in a worker: it starts no other run (a crash too: the comparison ends with it)
        if _stop_flag is not None:
            _interrupted = True
        raise
    finally:
        _busy = False
        if _terminated:  # the run is saved and recorded: end as SIGTERM asked
            _end_terminated()


def _end_terminated() -> None:
    # what a worker process does as it ends (its finalizers: tqdm's lock is a semaphore the
    # resource tracker would otherwise report leaked), short of returning to the pool
    with suppress(Exception):
        multiprocessing.util._exit_function()
    for stream in (sys.stdout, sys.stderr):
        with suppress(Exception):
            stream.flush()
    os._exit(128 + signal.SIGTERM)


def _train(job: Job) -> dict[str, Any]:
    from rnnlab import api
    from rnnlab.results.store import ResultsStore

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
    except TrainingDiverged as exc:
        if job.verbose:
            print(f"{prefix} diverged: {exc}", flush=True)
        run_id = exc.run_id
    row = ResultsStore(job.runs_dir).get_run(run_id)
    assert row is not None
    return row


def execute(todo: list[tuple[int, Job]], jobs: int, finished: Any) -> None:
    """Train `todo` ((plan index, job) pairs), calling `finished(index, row, count)` as each
    run ends. Raises TrainingInterrupted (TrainingTerminated after SIGTERM) when stopped."""
    verbose = bool(todo) and todo[0][1].verbose
    if jobs == 1 or len(todo) <= 1:
        _serially(todo, finished, verbose)
    else:
        _in_parallel(todo, jobs, finished, verbose)


def _serially(todo: list[tuple[int, Job]], finished: Any, verbose: bool) -> None:
    # The runs train in this process, where their training loop takes Ctrl-C (and SIGTERM,
    # when it is this process's to take). SIGTERM between runs or while one is set up would
    # end the process at once: taken for the whole of it, and handed to the loop.
    with _Signals(sigint=False, announce=verbose) as signals:
        try:
            for count, (index, job) in enumerate(todo, 1):
                finished(index, train_job(job), count)
        except (KeyboardInterrupt, TrainingInterrupted) as exc:
            if signals.signum == signal.SIGTERM or isinstance(exc, TrainingTerminated):
                raise TrainingTerminated("stopped by SIGTERM") from None
            raise TrainingInterrupted("interrupted") from None


def _in_parallel(todo: list[tuple[int, Job]], jobs: int, finished: Any, verbose: bool) -> None:
    # spawn, not fork: forking a process that already runs OpenMP threads can hang the child.
    context = multiprocessing.get_context("spawn")
    # no more workers than runs: a --jobs beyond them (even 10**20) only idles, or overflows
    # the pool's queue size
    workers = min(jobs, len(todo))
    # plain shared memory, no lock: the parent sets it from a signal handler
    stop = context.RawValue("b", 0)
    ready = context.Array("l", workers)  # the workers' pids, once they can be asked to stop
    position = {index: job.position for index, job in todo}
    label = {index: job.label for index, job in todo}

    def ask_workers(signum: int) -> None:
        stop.value = 1
        request = _AS_SIGTERM if signum == signal.SIGTERM else _AS_SIGINT
        if request is None:  # no such signals here (Windows): queued runs are not started
            return
        for pid in list(ready.get_obj()):
            if pid:
                with suppress(OSError):  # ended already
                    os.kill(pid, request)

    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=context,
        initializer=_start_worker, initargs=(stop, ready),
    )  # fmt: skip
    failure: BaseException | None = None
    interrupted = False
    with _Signals(sigint=True, announce=verbose, forward=ask_workers, parallel=True) as signals:
        pending: dict[Future, int] = {}
        count = 0
        try:
            for index, job in todo:
                pending[pool.submit(train_job, job)] = index
            _wake_manager(pool)
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    index = pending.pop(future)
                    try:
                        row = future.result()
                    except (KeyboardInterrupt, TrainingInterrupted):
                        # stopped (the parent asked, or its worker got a signal of its own):
                        # a run stopped alone also ends the comparison, as without --jobs
                        interrupted = True
                        stop.value = 1
                        continue
                    except BrokenProcessPool:
                        raise
                    except Exception as exc:
                        # a crash: the runs in progress finish, no other starts, then the
                        # comparison ends with its error, as it would without --jobs
                        stop.value = 1
                        if failure is None:
                            failure = exc
                            if verbose:
                                print(
                                    f"[{position[index]}/{len(todo)}] {label[index]} failed: "
                                    f"{exc}; the runs in progress finish, no other starts "
                                    "(Ctrl-C stops them, saved)",
                                    flush=True,
                                )
                        continue
                    count += 1
                    finished(index, row, count)
        except BrokenProcessPool:
            # the pool ends the other workers with SIGTERM: they save their runs and end
            pool.shutdown(wait=True, cancel_futures=True)
            if signals.signum is not None:  # workers signalled with the parent (a job's group)
                raise _stopped(signals.signum) from None
            raise RnnlabError(
                "a worker process of the comparison ended abruptly (killed, out of memory, or, "
                "from a Python script, compare(jobs>1) called outside `if __name__ == "
                '"__main__":`, which worker processes need); finished runs are kept: run it '
                "again to continue, or use jobs=1"
            ) from None
        except BaseException:
            # the runs in progress finish (or save, when stopped); queued ones are not started
            stop.value = 1
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
    if signals.signum is not None:
        raise _stopped(signals.signum)
    if failure is not None:
        raise failure
    if interrupted:
        raise TrainingInterrupted("interrupted")


def _wake_manager(pool: ProcessPoolExecutor) -> None:
    """Have the pool's manager thread look again at which workers it watches. Python 3.11
    wakes it before it starts the worker of each submit, so it may wait on all but the last
    worker: that one's death (killed, or a SIGTERM that it saved after) then went unnoticed
    until another run ended, and a run held at that point kept the command waiting."""
    wakeup = getattr(pool, "_executor_manager_thread_wakeup", None)
    with suppress(Exception):
        wakeup.wakeup()


def _stopped(signum: int) -> TrainingInterrupted:
    if signum == signal.SIGTERM:
        return TrainingTerminated("stopped by SIGTERM")
    return TrainingInterrupted("interrupted")


class _Signals:
    """The comparison's own handling of Ctrl-C (`sigint`) and SIGTERM in the parent while its
    runs train; `signum` is the first that came. SIGTERM is taken only where `rnnlab train`
    takes it (its handling left as it was when someone chose it), and nothing off the main
    thread. In parallel, the first signal is handed to `forward` (which asks the workers to
    stop) and the parent waits for them; serially, SIGTERM goes to the training loop's
    handler, which saves as after Ctrl-C."""

    def __init__(
        self, *, sigint: bool, announce: bool, forward: Any = None, parallel: bool = False
    ) -> None:
        self.sigint, self.announce, self.forward, self.parallel = (
            sigint,
            announce,
            forward,
            parallel,
        )
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        if threading.current_thread() is not threading.main_thread():
            return self
        wanted = [signal.SIGINT] if self.sigint else []
        if takes_sigterm():  # where `rnnlab train` takes it
            wanted.append(signal.SIGTERM)
        for signum in wanted:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        restore_handlers(self._previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        first = self.signum is None
        if first:
            self.signum = signum
            if self.announce:
                _say(signum, self.parallel)
        if self.parallel:
            if first:
                self.forward(signum)
            return  # later ones: the workers are saving already; a terminal's Ctrl-C
            # reaches them itself, and a second one stops them at once
        # serially, SIGTERM only: to the training loop's GracefulStop (the run saves; a
        # second SIGTERM stops at once, as in `rnnlab train`); between runs, Python's own
        # SIGINT handler raises KeyboardInterrupt
        handler = signal.getsignal(signal.SIGINT)
        if not callable(handler):  # SIGINT ignored here: stop all the same
            raise KeyboardInterrupt
        handler(signum, frame)


def _say(signum: int, parallel: bool) -> None:
    if signum == signal.SIGTERM:
        what = (
            "stopping every run in progress after its current iteration to save it"
            if parallel
            else "stopping after this iteration to save the run"
        )
        text = f"SIGTERM received: {what}\n"
    else:
        text = (
            "Stopping every run in progress after its current iteration to save it "
            "(Ctrl-C again to stop at once)\n"
        )
    with suppress(OSError, RuntimeError, ValueError):  # stderr closed, or being written now
        sys.stderr.write(text)
        sys.stderr.flush()


# --------------------------------------------------------------------------- results
