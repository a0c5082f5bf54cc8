"""Where data lives: --data-dir, else $RNNLAB_DATA, else a per-user cache folder."""

from __future__ import annotations

import os
from pathlib import Path


def default_data_dir() -> Path:
    if os.environ.get("RNNLAB_DATA"):
        return Path(os.environ["RNNLAB_DATA"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "rnnlab" / "data"


def resolve_data_dir(data_dir: str | Path | None) -> Path:
    return Path(data_dir).expanduser() if data_dir else default_data_dir()


def default_runs_dir() -> Path:
    return Path(os.environ.get("RNNLAB_RUNS", "runs")).expanduser()
