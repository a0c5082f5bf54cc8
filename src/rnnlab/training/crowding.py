"""Notice other work on the cores a run is about to use.

torch's OpenMP threads spin while they wait for each other, so a run with one thread per core
beside another busy process can go tens of times slower (README, Speed). The load average
cannot tell this process from the others, so the CPU time the whole machine spent while the
data loaded is compared with the time this process spent: the rest is other work.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

PROC_STAT = Path("/proc/stat")
BUSY_FIELDS = (0, 1, 2, 5, 6, 7)  # user nice system irq softirq steal (idle, iowait left out)
MIN_WINDOW_S = 0.05  # shorter windows hold too few clock ticks to say anything


def _machine_busy_seconds() -> float | None:
    """CPU seconds spent on all cores since boot, or None where /proc/stat does not describe
    exactly the cores this process may use (other systems, containers that see the host)."""
    try:
        lines = PROC_STAT.read_text().splitlines()
        cores = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
        if cores != usable_cores():
            return None
        ticks = [int(v) for v in lines[0].split()[1:]]
        return sum(ticks[i] for i in BUSY_FIELDS) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _own_seconds() -> float:
    t = os.times()
    return t.user + t.system


class CpuWatch:
    """Started before a slow step of this process (reading the data); `others()` then says how
    many cores other processes kept busy meanwhile."""

    def __init__(self) -> None:
        self._start = (time.perf_counter(), _machine_busy_seconds(), _own_seconds())

    def others(self) -> float | None:
        wall0, machine0, own0 = self._start
        machine = _machine_busy_seconds()
        wall = time.perf_counter() - wall0
        if machine0 is None or machine is None or wall < MIN_WINDOW_S:
            return None
        return max(0.0, (machine - machine0) - (_own_seconds() - own0)) / wall


def usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def crowding_note(other_cores: float | None, threads: int, cores: int | None = None) -> str | None:
    """A line for the user when other work would make this run's threads wait on each other."""
    cores = cores or usable_cores()
    if other_cores is None or threads < 2 or other_cores < 0.5:
        return None
    if threads + other_cores < cores + 0.5:  # room enough: every thread has a core of its own
        return None
    return (
        f"Note: other processes kept {other_cores:.1f} of the {cores} cores busy while the "
        f"data loaded, and this run uses {threads} threads; threads that share busy cores wait "
        "on each other and can run many times slower. If this run is slow, give it --threads 1 "
        "(or cores / runs), or export OMP_WAIT_POLICY=PASSIVE (README: Speed)."
    )
