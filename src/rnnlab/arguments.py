"""The types the Python API's arguments must have, checked where a call enters rnnlab.

argparse types the command line's flags; a Python caller who passes `runs_dir=5` or
`device=0` gets the same kind of one-line ConfigError here, naming the argument and an
example, instead of a TypeError or AttributeError from deep inside.
"""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import Any

from rnnlab.errors import ConfigError

# argument name -> (accepted types, what to say it must be)
ARGUMENTS: dict[str, tuple[Any, str]] = {
    "runs_dir": ((str, Path), "a folder path (str or pathlib.Path)"),
    "data_dir": ((str, Path), "a folder path (str or pathlib.Path)"),
    "checkpoint": ((str, Path), "a checkpoint path, e.g. 'runs/seed-c-0001/last.pt'"),
    "resume": ((str, Path), "a checkpoint path, e.g. 'runs/seed-c-0001/last.pt'"),
    "save": ((str, Path), "a file path, e.g. 'rnn.pt'"),
    "out": ((str, Path), "a path (str or pathlib.Path)"),
    "device": (str, "a device name: 'auto', 'cpu', 'cuda', 'cuda:0' or 'mps'"),
    "name": (str, "a name (e.g. name='my-run')"),
    "group": (str, "a group name (e.g. group='compare:ex2-rnn')"),
    "task": (str, "a task name (e.g. task='classify')"),
    "task_name": (str, "a task name (e.g. task_name='classify')"),
    "status": (str, "a status (e.g. status='completed')"),
    "metric": (str, "a metric name (e.g. metric='val_acc')"),
    "study": (str, "a name (e.g. study='ex2-rnn')"),
    "comparison": (str, "a comparison name (e.g. 'ex2-rnn')"),
    "trials": (numbers.Integral, "a whole number (e.g. trials=20)"),
    "sampler_seed": (numbers.Integral, "a whole number from 0 to 2**32-1 (e.g. sampler_seed=0)"),
    "timeout": (numbers.Real, "a number of seconds (e.g. timeout=600)"),
    "sampler": (str, "one of 'tpe', 'random', 'grid'"),
    "storage": (str, "an Optuna storage URL (e.g. storage='sqlite:///path/optuna.db')"),
    "prune": (bool, "True or False"),
    "baseline": (bool, "True or False"),
    "verbose": (bool, "True or False"),
    "read_data": (bool, "True or False"),
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


def check_arguments(**values: Any) -> None:
    """Each argument given (not None) has the type ARGUMENTS names for it."""
    for name, value in values.items():
        if value is None:
            continue
        kind, wanted = ARGUMENTS[name]
        # True is an int to Python, but trials=True or timeout=False is a mistake
        wrong = not isinstance(value, kind) or (kind is not bool and isinstance(value, bool))
        if name in ("space", "overrides") and isinstance(value, list | tuple):
            wrong = wrong or not all(isinstance(item, str) for item in value)
        if name == "overrides" and isinstance(value, dict):
            wrong = wrong or not all(isinstance(key, str) for key in value)
        if wrong:
            raise ConfigError(f"{name} must be {wanted}, got {value!r}")


def check_required(**values: Any) -> None:
    """As check_arguments, for arguments that may not be None either."""
    for name, value in values.items():
        if value is None:
            raise ConfigError(f"{name} must be {ARGUMENTS[name][1]}, got None")
    check_arguments(**values)


def check_source(source: Any, name: str = "config") -> None:
    """What to train: a preset name, a TOML path, a dict of settings or a RunConfig."""
    from rnnlab.config import RunConfig

    if source is not None and not isinstance(source, str | Path | dict | RunConfig):
        raise ConfigError(
            f"{name} must be a preset name, a TOML file path, a dict of settings or a "
            f"RunConfig, got {source!r}"
        )
    if isinstance(source, str) and not source.strip():  # "" is the current folder as a path
        raise ConfigError(
            f"{name} is empty ({source!r}); give a preset name (rnnlab presets lists them) or "
            "a TOML file path"
        )
