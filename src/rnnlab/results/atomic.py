"""Atomic file writes: a temporary file in the same folder, then one rename, so an
interrupted write never leaves a half-written checkpoint, table or report in place of a good
one. No torch here: tables, reports and sweeps write through it too."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from rnnlab.errors import RnnlabError


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it: put it straight back
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Any) -> None:
    """Call write(file_object) on a temporary file, then move it over `path` in one step."""
    path = Path(path)
    if path.is_dir():
        raise RnnlabError(f"{path} is a folder; give a file name in it, e.g. {path / 'rnn.pt'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        # mkstemp's file is private (0600); give the result the mode open() would have
        os.fchmod(fd, 0o666 & ~_umask())
    except OSError as exc:
        raise RnnlabError(
            f"cannot write to {path.parent} ({exc.strerror}); choose a writable folder "
            "with --runs-dir"
        ) from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))
