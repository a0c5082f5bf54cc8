"""Sweep definitions: the shipped ones (src/rnnlab/sweeps/*.toml) and files of the same form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnlab.config import names_a_file, parse_toml, shipped_names, shipped_text
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


def load_definition(name: str | Path) -> dict[str, Any]:
    """A sweep definition as a dict, its keys and their types checked: a shipped one by name,
    or a TOML file of the same form by its path."""
    if not isinstance(name, str | Path):
        raise ConfigError(
            f"definition must be a shipped sweep name or a TOML file path, got {name!r}"
        )
    name = str(name)
    if names_a_file(name):
        text: str | None = _read_definition_file(Path(name))
    else:
        text = shipped_text("sweeps", name)
        if text is None and Path(name).is_dir():
            # a folder of sweep files, given instead of one of them: "unknown sweep" misleads
            raise _a_folder(name)
        if text is None:
            raise ConfigError(
                f"unknown sweep '{name}'; shipped sweeps: {', '.join(definition_names())} "
                "(rnnlab sweep --list shows them)"
            )
    values = parse_toml(text, f"sweep '{name}'")
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


def _a_folder(name: str | Path) -> ConfigError:
    return ConfigError(
        f"--sweep {name} is a folder; give one sweep TOML file in it (e.g. --sweep "
        "FOLDER/my-sweep.toml) or a shipped sweep name (rnnlab sweep --list)"
    )


def _read_definition_file(path: Path) -> str:
    """The text of a sweep file, or a one-line error for a folder, a missing or unreadable
    file, or one that is not UTF-8 text (TOML is UTF-8 by definition)."""
    if path.is_dir():
        raise _a_folder(path)
    if not path.is_file():
        raise ConfigError(f"sweep file {path} does not exist; give a TOML file or a name")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:  # a Latin-1 file, a checkpoint, ... given by mistake
        raise ConfigError(
            f"sweep file {path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at "
            f"position {exc.start}); save it as UTF-8, as TOML requires"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read sweep file {path} ({exc.strerror})") from None


def list_definitions() -> list[tuple[str, str]]:
    """(name, description) of every shipped sweep."""
    return [(n, load_definition(n).get("description", "")) for n in definition_names()]


def sweeps() -> dict[str, str]:
    """The shipped sweeps (`rnnlab sweep --list`): name -> one-line description, as
    rnnlab.studies() is for compare."""
    return dict(list_definitions())
