"""glibc malloc settings that keep a CPU training loop out of the kernel's page-fault handler.

PyTorch's CPU tensors come straight from malloc. With glibc's defaults, blocks above the mmap
threshold (128 KiB, raised on the fly up to 32 MiB) are fresh mmaps, and free memory at the top
of the heap beyond the trim threshold goes back to the kernel. A training step allocates and
frees the same activation, workspace and gradient buffers every iteration, so every iteration
touches fresh pages again: the sheet-lstm step spends about a third of its time in minor page
faults (2.4 million in 200 steps). Serving those blocks from the heap and keeping freed memory
takes the step from about 53 ms to 33 ms on the 2-core CPU here (benchmarks/run.py).

The cost is that the process keeps its peak memory instead of returning it between steps, as
jemalloc or tcmalloc would. `RNNLAB_MALLOC=default` leaves glibc as it is. Other C libraries
(macOS, Windows, musl) are left alone.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1  # from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # the largest value glibc accepts on 64-bit machines
TRIM_THRESHOLD = 1024 * 1024 * 1024

_state: str | None = None


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)  # the symbols already loaded into this process, libc's among them
        libc.gnu_get_libc_version  # only glibc has it  # noqa: B018
        libc.mallopt  # noqa: B018
        return libc
    except (OSError, AttributeError):
        return None


def tune_cpu_allocator() -> str:
    """Apply the settings once per process. Returns what the process runs with: 'tuned',
    'default' (turned off with RNNLAB_MALLOC=default) or 'unavailable' (not glibc)."""
    global _state
    if _state is not None:
        return _state
    if os.environ.get("RNNLAB_MALLOC", "tuned").lower() in ("default", "off", "0", "no"):
        _state = "default"
        return _state
    libc = _glibc()
    if libc is None:
        _state = "unavailable"
        return _state
    ok = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    ok = libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
    _state = "tuned" if ok else "unavailable"
    return _state


def allocator_state() -> str:
    """What `tune_cpu_allocator` did in this process so far ('default' before any call)."""
    return _state or "default"
