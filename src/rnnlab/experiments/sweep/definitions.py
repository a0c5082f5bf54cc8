"""Sweep definitions: the shipped ones (src/rnnlab/sweeps/*.toml) and files of the same form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnlab.config import _parse_toml, names_a_file, shipped_names, shipped_text
from rnnlab.errors import ConfigError

# Keys of a shipped sweep definition (src/rnnlab/sweeps/NAME.toml).
_DEFINITION_KEYS = (
    "description",
    "preset",
    "config",
    "overrides",
    "space",
    "trials",
    "timeout",
    "sampler",
    "prune",
    "metric",
    "sampler_seed",
    "baseline",
)


def definition_names() -> list[str]:
    """The shipped sweep definitions (src/rnnlab/sweeps/*.toml)."""
    return shipped_names("sweeps")


def load_definition(name: str) -> dict[str, Any]:
    """A sweep definition as a dict, its keys and their types checked: a shipped one by name,
    or a TOML file of the same form by its path."""
    if names_a_file(name):
        path = Path(name)
        if not path.is_file():
            raise ConfigError(f"sweep file {name} does not exist; give a TOML file or a name")
        text: str | None = path.read_text(encoding="utf-8")
    else:
        text = shipped_text("sweeps", name)
        if text is None:
            raise ConfigError(
                f"unknown sweep '{name}'; shipped sweeps: {', '.join(definition_names())} "
                "(rnnlab sweep --list shows them)"
            )
    values = _parse_toml(text, f"sweep '{name}'")
    unknown = sorted(set(values) - set(_DEFINITION_KEYS))
    if unknown:
        raise ConfigError(
            f"sweep '{name}': unknown key '{unknown[0]}'; valid keys: {', '.join(_DEFINITION_KEYS)}"
        )
    if ("preset" in values) == ("config" in values):
        raise ConfigError(f"sweep '{name}' must name a preset or hold a [config] table (one)")
    kinds = {
        "description": str,
        "preset": str,
        "config": dict,
        "overrides": dict,
        "space": dict,
        "trials": int,
        "timeout": (int, float),
        "sampler": str,
        "prune": bool,
        "metric": str,
        "sampler_seed": int,
        "baseline": bool,
    }
    for key, value in values.items():
        if not isinstance(value, kinds[key]) or (kinds[key] is int and isinstance(value, bool)):
            raise ConfigError(f"sweep '{name}': '{key}' has the wrong type ({value!r})")
    if not values.get("space"):
        raise ConfigError(f"sweep '{name}' has no [space] table of FIELD = \"SPEC\" entries")
    return values


def list_definitions() -> list[tuple[str, str]]:
    """(name, description) of every shipped sweep."""
    return [(n, load_definition(n).get("description", "")) for n in definition_names()]
