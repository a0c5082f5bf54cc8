"""Config files: TOML read and written back, and the TOML files rnnlab ships (presets,
studies, sweeps)."""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path
from typing import Any

from rnnlab.config.schema import SECTIONS, RunConfig, TopLevel, field_types, from_dict
from rnnlab.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib


def parse_toml(text: str, origin: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin} is not valid TOML: {exc}") from None


def shipped_names(folder: str) -> list[str]:
    """The names of the TOML files shipped in src/rnnlab/FOLDER (presets, studies, sweeps)."""
    files = resources.files("rnnlab") / folder
    return sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".toml"))


def shipped_text(folder: str, name: str) -> str | None:
    """The text of src/rnnlab/FOLDER/NAME.toml, or None when no such file is shipped."""
    if name not in shipped_names(folder):
        # a name such as "../studies/ex2-rnn" would otherwise reach another folder's files
        return None
    path = resources.files("rnnlab") / folder / f"{name}.toml"
    return path.read_text(encoding="utf-8") if path.is_file() else None


def preset_names() -> list[str]:
    return shipped_names("presets")


def preset_text(name: str) -> str:
    text = shipped_text("presets", name)
    if text is None:
        raise ConfigError(
            f"unknown preset '{name}'; available presets: {', '.join(preset_names())}"
        )
    return text


def preset_top_level(name: str, key: str) -> Any:
    return parse_toml(preset_text(name), f"preset '{name}'").get(key)


def preset_published(name: str) -> float | None:
    """The test accuracy (%) the tutorials report for a preset's recipe on MNIST, if any."""
    value = preset_top_level(name, "published")
    return float(value) if value is not None else None


def presets() -> dict[str, str]:
    """The shipped presets: name -> one-line description."""
    return {name: str(preset_top_level(name, "description") or "") for name in preset_names()}


def load_preset(name: str) -> RunConfig:
    values = parse_toml(preset_text(name), f"preset '{name}'")
    values.setdefault("name", name)
    return from_dict(values)


def names_a_file(source: str | Path) -> bool:
    """Whether a name given for a preset (or a shipped sweep) means a TOML file instead: it
    ends in .toml, or something other than a folder of that name exists (a file, or a pipe
    such as bash's <(...)); a name the system cannot even look up (too long) is a file name
    too, whose reading says what is wrong with it."""
    if str(source).endswith(".toml"):
        return True
    try:
        return Path(source).exists() and not Path(source).is_dir()
    except OSError:
        return True


def load_config_file(path: str | Path) -> RunConfig:
    path = Path(path)
    try:
        is_dir, exists = path.is_dir(), path.exists()
    except OSError as exc:  # a name too long for the file system, ...
        raise ConfigError(f"cannot read config file {path} ({exc.strerror})") from None
    if is_dir:
        raise ConfigError(f"config file {path} is a folder; give a TOML file or --preset NAME")
    if not exists:
        raise ConfigError(f"config file {path} does not exist; give a TOML file or --preset NAME")
    try:
        # utf-8-sig: a byte-order mark (Windows Notepad writes one) is no TOML
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:  # a checkpoint, an image, ... given by mistake
        raise ConfigError(
            f"config file {path} is not a TOML text file (not UTF-8; a checkpoint .pt, say); "
            "give a TOML config, or --resume CKPT to continue a checkpoint"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path} ({exc.strerror})") from None
    values = parse_toml(text, f"config file {path}")
    values.setdefault("name", path.stem)
    return from_dict(values)


def to_toml(cfg: RunConfig) -> str:
    """Write a config back as TOML, so every run folder holds a file that re-runs it."""
    d = cfg.to_dict()
    lines = []
    for key in field_types(TopLevel):
        lines.append(f"{key} = {toml_value(d[key])}")
    for section in SECTIONS:
        lines.append(f"\n[{section}]")
        for key, value in (d[section] or {}).items():
            lines.append(f"{key} = {toml_value(value)}")
    return "\n".join(lines) + "\n"


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return '"' + "".join(_toml_char(c) for c in str(value)) + '"'


_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _toml_char(c: str) -> str:
    """One character of a TOML basic string: a control character written as it is makes
    the file unreadable (a data.path holding a newline broke its run's config.toml)."""
    if c in _TOML_ESCAPES:
        return _TOML_ESCAPES[c]
    if c < " " or c == "\x7f":
        return f"\\u{ord(c):04x}"
    return c


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"model": {"hidden": 8}} -> {"model.hidden": 8}: a nested config (or a TOML table of
    settings) as dotted fields; lists are leaves."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
