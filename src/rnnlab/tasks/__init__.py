"""Registry of tasks by name; each entry is imported only when first used."""

from __future__ import annotations

import importlib

from rnnlab.errors import ConfigError

# name -> "module:Class". New tasks add one line here.
TASKS: dict[str, str] = {
    "classify": "rnnlab.tasks.classify:ClassifyTask",
    "charlm": "rnnlab.tasks.charlm:CharLMTask",
}


def get_task_class(name: str) -> type:
    if name not in TASKS:
        raise ConfigError(f"unknown task '{name}'; choose one of: {', '.join(sorted(TASKS))}")
    module, cls = TASKS[name].split(":")
    return getattr(importlib.import_module(module), cls)
