"""Ctrl-C that stops between iterations, so the checkpoint it leaves resumes exactly.

A KeyboardInterrupt raised mid-iteration would catch the model half-updated (after the
forward pass the dropout masks are drawn, inside optimizer.step some tensors are stepped and
others not): a checkpoint saved then could not continue exactly. So the first Ctrl-C only asks
the loop to stop at the next iteration boundary; a second one stops at once, without saving.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType, TracebackType


class GracefulStop:
    """Context manager: `requested` turns true on the first SIGINT received inside it."""

    def __init__(self, announce: bool = True) -> None:
        self.announce = announce  # say on stderr that the run will stop
        self.requested = False
        self.twice = False  # a second Ctrl-C: stopped mid-iteration
        self._previous: object = None
        self._installed = False

    def __enter__(self) -> GracefulStop:
        # Signal handlers can only be set from the main thread; elsewhere Ctrl-C stays abrupt.
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            self.twice = True
            raise KeyboardInterrupt
        self.requested = True
        if self.announce:
            sys.stderr.write("\nStopping after this iteration (Ctrl-C again to stop at once)\n")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._installed:
            previous = self._previous if self._previous is not None else signal.default_int_handler
            signal.signal(signal.SIGINT, previous)  # type: ignore[arg-type]
