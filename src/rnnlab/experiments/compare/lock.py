"""One process at a time trains a comparison: two identical `rnnlab compare` commands
started together would each find every run not done and train the whole grid twice.

The trainer holds an flock on RUNS/compare/NAME/.lock, which says 'host:pid' of the holder.
The kernel releases an flock when its process ends however it ends, so a killed comparison
never blocks the next one. Where flock is missing (Windows) or the filesystem refuses it,
comparisons train unlocked, as before the lock existed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from rnnlab.errors import ComparisonBusy, RnnlabError
from rnnlab.results.owner import owner_gone, this_process

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".lock"


@contextmanager
def training_lock(folder: Path, name: str, runs_dir: Path) -> Iterator[None]:
    """Hold comparison `name`'s lock in `folder` while the block runs, or raise
    ComparisonBusy at once when another process holds it. Released however the block ends
    (success, error, Ctrl-C)."""
    path = folder / LOCK_NAME
    fd = _acquire(path, name, runs_dir)
    try:
        yield
    finally:
        if fd is not None:
            _release(path, fd)


def holder(folder: Path) -> str | None:
    """'host:pid' of the process training the comparison in `folder` now, as far as can be
    told without taking its lock (what a dry run may do): the file's holder, unless that
    process has ended. A process killed on another machine still shows."""
    try:
        owner = (folder / LOCK_NAME).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return owner if owner and not owner_gone(owner) else None


def _acquire(path: Path, name: str, runs_dir: Path) -> int | None:
    if fcntl is None:
        return None
    while True:
        fd = _open(path)
        try:
            locked = _lock(fd, name, runs_dir)
        except BaseException:
            os.close(fd)
            raise
        if not locked:
            os.close(fd)
            return None
        if _same_file(fd, path):
            break
        # its holder unlinked this file as it finished, after we opened it: lock the new one
        os.close(fd)
    with suppress(OSError):  # the holder's name only informs; a full disk may refuse it
        os.ftruncate(fd, 0)
        os.write(fd, this_process().encode())
    return fd


def _open(path: Path) -> int:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise RnnlabError(
            f"cannot write the comparison's folder {path.parent} ({exc}); choose a writable "
            "folder with --runs-dir"
        ) from None


def _lock(fd: int, name: str, runs_dir: Path) -> bool:
    """True once locked; False where the filesystem has no locks (trained unlocked)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        by = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
        raise ComparisonBusy(
            f"comparison '{name}' is being trained by another process"
            f"{f' ({by})' if by else ''} in {runs_dir}; wait for it to finish, or give this "
            "one another --name"
        ) from None
    except OSError:  # e.g. ENOLCK on a network filesystem without lock support
        return False
    return True


def _same_file(fd: int, path: Path) -> bool:
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (now.st_dev, now.st_ino)


def _release(path: Path, fd: int) -> None:
    # unlinked while still held, so a process that opened it meanwhile sees it was replaced
    # (_same_file) rather than holding a lock on a file no one else will look at
    with suppress(OSError):
        path.unlink()
    os.close(fd)  # closing releases the flock
