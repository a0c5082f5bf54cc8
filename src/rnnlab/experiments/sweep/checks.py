"""Checks that need files or data, made before the first trial so that a problem no trial
could get past is one line up front rather than trial #0's failure after the header (or a
failure after a trial has run): the API's argument types, the study's files, the base config's
data."""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnlab.config import apply_overrides, field_value
from rnnlab.errors import ConfigError, RnnlabError

if TYPE_CHECKING:
    from rnnlab.experiments.sweep.plan import SweepPlan
    from rnnlab.experiments.sweep.space import Param

# What each argument of rnnlab.sweep / plan_sweep must be, and an example naming the fix.
# argparse types the command line's flags; Python callers get the same one-line errors here
# instead of a TypeError deep in the sweep.
_ARGUMENTS: dict[str, tuple[Any, str]] = {
    "trials": (numbers.Integral, "a whole number (e.g. trials=20)"),
    "sampler_seed": (numbers.Integral, "a whole number from 0 to 2**32-1 (e.g. sampler_seed=0)"),
    "timeout": (numbers.Real, "a number of seconds (e.g. timeout=600)"),
    "sampler": (str, "one of 'tpe', 'random', 'grid'"),
    "metric": (str, "a metric name (e.g. metric='val_acc')"),
    "study": (str, "a name (e.g. study='my-sweep')"),
    "storage": (str, "an Optuna storage URL (e.g. storage='sqlite:///path/optuna.db')"),
    "prune": (bool, "True or False"),
    "baseline": (bool, "True or False"),
    "runs_dir": ((str, Path), "a folder path"),
    "data_dir": ((str, Path), "a folder path"),
    "space": (
        (dict, list, tuple),
        "a dict such as {'train.lr': 'log:1e-4:1e-1', 'model.hidden': [64, 128]} or a list "
        "of 'FIELD=SPEC' strings",
    ),
    "overrides": (
        (dict, list, tuple),
        "a dict such as {'train.iters': 1000} or a list of 'FIELD=VALUE' strings",
    ),
}

_SQLITE_HEADER = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database file


def check_arguments(**values: Any) -> None:
    """Each argument given (not None) has the type the sweep needs."""
    for name, value in values.items():
        if value is None:
            continue
        kind, wanted = _ARGUMENTS[name]
        # True is an int to Python, but trials=True or timeout=False is a mistake
        wrong = not isinstance(value, kind) or (kind is not bool and isinstance(value, bool))
        if name in ("space", "overrides") and isinstance(value, list | tuple):
            wrong = wrong or not all(isinstance(item, str) for item in value)
        if wrong:
            raise ConfigError(f"{name} must be {wanted}, got {value!r}")


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
