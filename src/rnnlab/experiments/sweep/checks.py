"""Checks that need files or data, made before the first trial so that a problem no trial
could get past is one line up front rather than trial #0's failure after the header (or a
failure after a trial has run): the study's files and the base config's
data."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnlab.config import apply_overrides, field_value
from rnnlab.errors import ConfigError, RnnlabError

if TYPE_CHECKING:
    from rnnlab.experiments.sweep.plan import SweepPlan
    from rnnlab.experiments.sweep.space import Param

_SQLITE_HEADER = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database file


def sqlite_file(storage: str) -> Path | None:
    """The file of an SQLite storage URL (sqlite:///relative or sqlite:////absolute), or None
    for another database or an in-memory one."""
    prefix = "sqlite:///"
    if not storage.startswith(prefix):
        return None
    path = storage[len(prefix) :].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def check_study_files(folder: Path, storage: str, storage_given: bool) -> None:
    """The study's folder and files, where they exist, are what the sweep reads and writes:
    a folder where sweep.json goes would otherwise be found after the first trial, a file
    that is not SQLite as a database error that blames a --storage nobody gave."""
    fix = "choose another --study NAME"
    if folder.exists() and not folder.is_dir():
        raise ConfigError(
            f"{folder} is a file, where the sweep keeps its study; move it aside, or {fix}"
        )
    for name, what in (("sweep.json", "the summary of every trial"), ("best.toml", "its best")):
        path = folder / name
        if path.exists() and not path.is_file():
            raise ConfigError(
                f"{path} is a folder, where the sweep writes {what}; move it aside, or {fix}"
            )
    path = sqlite_file(storage)
    if path is None or not path.exists():
        return
    other = "give --storage another file" if storage_given else fix
    if path.is_dir():
        raise ConfigError(f"study file {path} is a folder; move it aside, or {other}")
    try:
        with path.open("rb") as f:
            header = f.read(len(_SQLITE_HEADER))
    except OSError:
        return  # unreadable: opening the study says so, with the reason
    if header and header != _SQLITE_HEADER:  # an empty file is an empty SQLite database
        raise ConfigError(
            f"study file {path} is not an Optuna study (not an SQLite database); move it "
            f"aside to start the study afresh, or {other}"
        )


def check_base_data(plan: SweepPlan) -> None:
    """Read the task's data once with the base config, before any trial: missing data files,
    or a validation split that leaves no training images, fail every trial alike.

    Some failures depend on swept values (a batch larger than a small training slice, with
    train.batch_size swept): when some swept values make the data usable, the sweep goes on
    and the trials that cannot train say so themselves."""
    import torch

    from rnnlab.data.paths import resolve_data_dir
    from rnnlab.tasks import get_task_class

    data_path = resolve_data_dir(plan.data_dir)
    task_cls = get_task_class(plan.config.task)

    def failure(values: dict[str, Any]) -> RnnlabError | None:
        cfg = plan.config.copy()
        try:
            apply_overrides(cfg, values)
        except ConfigError as exc:  # values that do not go together: not a usable probe
            return exc
        try:
            # on the CPU: the check reads the data and builds no model, it needs no GPU
            task_cls(cfg, data_path, torch.device("cpu"))
        except RnnlabError as exc:
            return exc
        return None

    first = failure({})
    if first is None:
        return
    for values in _probes(plan):
        if failure(values) is None:
            return
    raise type(first)(f"sweep '{plan.study}', before any trial: {first}")


def _probes(plan: SweepPlan, most: int = 12) -> list[dict[str, Any]]:
    """Swept values to try the data with, each probe reading it once: every candidate of one
    field with the base config's values elsewhere, then all fields at their first and at
    their last candidate; at most `most`, so that a refusal stays quick. Ranges are tried at
    their bounds; model fields are left out (the check builds no model)."""
    options = {
        name: [v for v in _candidates(p) if v != field_value(plan.config, name)]
        for name, p in plan.space.items()
        if not name.startswith("model.")
    }
    options = {name: values for name, values in options.items() if values}
    out = [{name: v} for name, values in options.items() for v in values]
    if len(options) > 1:
        for pick in (0, -1):
            combo = {name: values[pick] for name, values in options.items()}
            if combo not in out:
                out.append(combo)
    return out[:most]


def _candidates(p: Param) -> list[Any]:
    if p.kind == "choice":
        return list(p.choices)
    return [int(p.low), int(p.high)] if p.kind == "int" else [p.low, p.high]
