"""How progress lines write durations (no torch here: comparisons and sweeps use it too)."""

from __future__ import annotations

import os


def hms(seconds: float) -> str:
    """3725.4 -> "1:02:05"."""
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def evaluations_left(iteration: int, total: int, every: int) -> int:
    """The evaluations a run at `iteration` still makes: every `every` iterations up to
    `total`, and one at `total` itself when it is not a multiple of `every`."""
    if iteration >= total:
        return 0
    return total // every - iteration // every + (1 if total % every else 0)


def time_left(
    step_seconds: float,
    steps_done: int,
    other_seconds: float,
    evaluations_done: int,
    steps_left: int,
    evaluations_to_come: int,
) -> float:
    """Seconds left: the steps to come at the mean training-step time so far, and the
    evaluations to come at the mean time each one took (with its checkpoint save). Timing
    the two apart keeps the estimate right where the evaluations are not spread evenly over
    what is left (a last, shorter stretch that still ends with a whole evaluation)."""
    per_step = step_seconds / steps_done if steps_done else 0.0
    per_evaluation = other_seconds / evaluations_done if evaluations_done else 0.0
    return per_step * steps_left + per_evaluation * evaluations_to_come


def bar_disabled(verbose: bool) -> bool | None:
    """tqdm's `disable`: None draws the bar only where stderr is a terminal (a log file or
    a pipe gets no carriage-return redraws); never for a quiet run, nor on a terminal that
    cannot redraw a line (TERM=dumb: Emacs shells, some CI log viewers)."""
    if not verbose or os.environ.get("TERM") == "dumb":
        return True
    return None
