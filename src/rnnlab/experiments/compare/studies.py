"""Shipped comparisons ("studies"): a base preset, fixed settings, grid axes and seeds, read
from the TOML files in rnnlab/studies/."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rnnlab.config import flatten, parse_toml, shipped_names, shipped_text
from rnnlab.errors import ConfigError


@dataclass
class Study:
    """A shipped comparison: a base preset, fixed settings, grid axes and seeds."""

    name: str
    description: str = ""
    source: str | None = None
    grid: dict[str, list[Any]] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)


def study_names() -> list[str]:
    return shipped_names("studies")


def studies() -> dict[str, str]:
    """The shipped studies (`rnnlab compare --list`): name -> one-line description."""
    return {name: load_study(name).description for name in study_names()}


def load_study(name: str) -> Study:
    text = shipped_text("studies", name)
    if text is None:
        raise ConfigError(f"unknown study '{name}'; available studies: {', '.join(study_names())}")
    values = parse_toml(text, f"study '{name}'")
    known = {"description", "preset", "seeds", "set", "grid"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"study '{name}' has an unknown key '{unknown[0]}'")
    grid = flatten(values.get("grid", {}))
    for axis, choices in grid.items():
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"study '{name}': grid axis '{axis}' needs a non-empty list")
    return Study(
        name=name,
        description=values.get("description", ""),
        source=values.get("preset"),
        grid=grid,
        seeds=[int(s) for s in values.get("seeds", [])],
        overrides=flatten(values.get("set", {})),
    )
