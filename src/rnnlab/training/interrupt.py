"""Ctrl-C and SIGTERM that stop between iterations, so the checkpoint they leave resumes exactly.

A KeyboardInterrupt raised mid-iteration would catch the model half-updated (after the
forward pass the dropout masks are drawn, inside optimizer.step some tensors are stepped and
others not): a checkpoint saved then could not continue exactly. So the first Ctrl-C only asks
the loop to stop at the next iteration boundary; a second one stops at once, without saving.

SIGTERM (Slurm at the time limit or on scancel, `timeout`, `docker stop`, `kill`) is taken the
same way: a job killed by its scheduler keeps the work done since the last evaluation. Its
command then exits with 143 (128 + SIGTERM), as a process the signal ended does.
"""

from __future__ import annotations

import multiprocessing
import signal
import sys
import threading
from types import FrameType, TracebackType

from rnnlab.errors import TrainingTerminated

__all__ = ["GracefulStop", "TrainingTerminated", "restore_handlers", "takes_sigterm"]


def takes_sigterm() -> bool:
    """Whether SIGTERM may be turned into a graceful stop here. Not where someone chose its
    handling (ignored, or a handler of their own), nor in a multiprocessing worker: a pool
    terminates its workers with SIGTERM and waits for them to die."""
    if not hasattr(signal, "SIGTERM") or multiprocessing.parent_process() is not None:
        return False
    return signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


class GracefulStop:
    """Context manager: `requested` turns true on the first SIGINT (or SIGTERM) received
    inside it; `signum` says which."""

    def __init__(self, announce: bool = True) -> None:
        self.announce = announce  # say on stderr that the run will stop
        self.requested = False
        self.twice = False  # a second signal: stopped mid-iteration
        self.signum: int | None = None  # the signal that asked first
        self._previous: dict[int, object] = {}

    @property
    def terminated(self) -> bool:
        return self.signum == signal.SIGTERM

    def __enter__(self) -> GracefulStop:
        # Signal handlers can only be set from the main thread; elsewhere Ctrl-C stays abrupt.
        if threading.current_thread() is threading.main_thread():
            self._previous[signal.SIGINT] = signal.signal(signal.SIGINT, self._handle)
            if takes_sigterm():
                self._previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            self.twice = True
            raise KeyboardInterrupt
        self.requested = True
        self.signum = signum
        if self.announce:
            sys.stderr.write(_announcement(signum))
            sys.stderr.flush()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        restore_handlers(self._previous)


def restore_handlers(previous: dict[int, object]) -> None:
    """Put back the handlers `signal.signal` returned, by signal, and forget them."""
    for signum, handler in previous.items():
        if handler is None:  # set outside Python: put back Python's own for SIGINT
            handler = signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
        signal.signal(signum, handler)  # type: ignore[arg-type]
    previous.clear()


def _announcement(signum: int) -> str:
    # On a terminal the progress bar holds the line (and the echoed ^C): start a new one.
    # In a log file that newline would only be a blank line.
    start = "\n" if _stderr_is_terminal() else ""
    if signum == signal.SIGTERM:
        return f"{start}SIGTERM received: stopping after this iteration to save the run\n"
    return f"{start}Stopping after this iteration (Ctrl-C again to stop at once)\n"


def _stderr_is_terminal() -> bool:
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())
