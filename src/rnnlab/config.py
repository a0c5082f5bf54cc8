"""Run configuration: dataclasses, TOML loading, presets and command-line overrides.

A run is described by one `RunConfig`. Its `data` section depends on the task (MNIST
classification, character language model, ...): each task names its own data dataclass,
so a TOML file is checked field by field against exactly what that task understands.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from rnnlab.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib

CELLS = ("rnn_tanh", "rnn_relu", "lstm", "gru")
IMPLS = ("torch", "scratch")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("none", "step", "cosine")
PRECISIONS = ("fp32", "bf16", "auto")
DEVICES = ("auto", "cpu", "cuda", "mps")
_SECTIONS = ("data", "model", "train")  # the tables of a config file


@dataclass
class ModelConfig:
    cell: str = "lstm"
    hidden: int = 128
    layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    fc_hidden: int = 0  # width of an extra fully connected layer before the readout; 0 = none
    impl: str = "torch"  # "scratch" swaps in the hand-written cells of rnnlab.models.cells
    embedding_dim: int = 0  # token tasks: 0 = one-hot inputs
    char_dim: int = 0  # tagger: width of character features for each word; 0 = none
    char_widths: str = "3"  # tagger: character CNN filter widths, e.g. "2,3,4" (split char_dim)
    attention: bool = False  # encoder-decoder: attend over encoder outputs


@dataclass
class TrainConfig:
    iters: int = 3000
    epochs: float = 0.0  # when > 0 it wins over iters: iters = epochs * batches per epoch
    batch_size: int = 100
    optimizer: str = "adam"
    lr: float = 0.001
    momentum: float = 0.0
    weight_decay: float = 0.0
    clip_grad: float = 0.0  # max global gradient norm; 0 = no clipping
    schedule: str = "none"
    lr_step: int = 1000  # "step" schedule: iterations between decays
    lr_gamma: float = 0.5  # "step" schedule: factor per decay
    warmup: int = 0  # iterations of linear warm-up before the schedule
    eval_every: int = 500
    eval_batch_size: int = 1000
    precision: str = "fp32"  # "bf16" = bfloat16 autocast; "auto" = bf16 only where it pays


@dataclass
class _TopLevel:
    """The settings of a run outside any [section] of its config file."""

    task: str = "classify"
    name: str = ""
    seed: int = 0
    device: str = "auto"
    threads: int = 0  # torch intra-op threads; 0 = torch's default


@dataclass
class RunConfig(_TopLevel):
    data: Any = None  # the task's own data dataclass
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def copy(self) -> RunConfig:
        return from_dict(self.to_dict())


# --------------------------------------------------------------------------- building


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, kind: Any, where: str) -> Any:
    """Check a TOML/CLI value against a field's declared type, converting where obvious."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    if kind is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
            try:  # "1e4" and "3000.0" name integers too
                number = float(value)
                if number.is_integer():
                    return int(number)
            except (ValueError, OverflowError):
                pass
        raise ConfigError(f"{where} must be an integer, got {value!r}")
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{where} must be a number, got {value!r}")
    if kind is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where} must be a string, got {value!r}")
    return value


def build_section(cls: type, values: dict[str, Any] | None, section: str) -> Any:
    """Make dataclass `cls` from a dict, rejecting unknown keys with the list of valid ones."""
    values = dict(values or {})
    types = _field_types(cls)
    unknown = sorted(set(values) - set(types))
    if unknown:
        valid = ", ".join(f.name for f in dataclasses.fields(cls))
        raise ConfigError(f"unknown field '{unknown[0]}' in [{section}]; valid fields: {valid}")
    kwargs = {k: _coerce(v, types[k], f"{section}.{k}") for k, v in values.items()}
    return cls(**kwargs)


def from_dict(values: dict[str, Any]) -> RunConfig:
    """Build and validate a RunConfig from nested dicts (a parsed TOML file or a checkpoint)."""
    from rnnlab.tasks import get_task_class  # late import: tasks import this module

    values = dict(values)
    sections = {k: values.pop(k, None) for k in _SECTIONS}
    for key in ("preset", "description", "published"):  # informational keys of preset files
        values.pop(key, None)
    top = build_section(_TopLevel, values, "run")
    task_cls = get_task_class(top.task)
    cfg = RunConfig(
        **dataclasses.asdict(top),
        data=build_section(task_cls.DataConfig, sections["data"], "data"),
        model=build_section(ModelConfig, sections["model"], "model"),
        train=build_section(TrainConfig, sections["train"], "train"),
    )
    validate(cfg)
    return cfg


# --------------------------------------------------------------------------- validation


def _choice(value: str, choices: tuple[str, ...], where: str) -> None:
    if value not in choices:
        raise ConfigError(f"unknown {where} '{value}'; choose one of: {', '.join(choices)}")


MAX_INT = 2**63 - 1  # what the results store (SQLite) and torch's seeds hold
MAX_THREADS = 1024  # far past any CPU; torch crashes on absurd thread counts


def check_seed(seed: int) -> None:
    """A seed every consumer takes: torch, NumPy (mod 2**32) and the results store."""
    if not 0 <= seed <= MAX_INT:
        raise ConfigError(f"seed must be between 0 and 2**63-1, got {seed}")


def _check_numbers(cfg: RunConfig) -> None:
    """Every number in every section is finite and fits a 64-bit integer: NaN slips past
    comparisons such as `< 0`, and inf or a huge integer fails deep inside torch."""
    sections = {"run": cfg, "data": cfg.data, "model": cfg.model, "train": cfg.train}
    for section, values in sections.items():
        if values is None:
            continue
        for f in dataclasses.fields(values):
            value = getattr(values, f.name)
            where = f.name if section == "run" else f"{section}.{f.name}"
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{where} must be a finite number, got {value}")
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
                raise ConfigError(f"{where} is too large: {value}")


def validate(cfg: RunConfig) -> None:
    """Reject values no run could use, naming the field and the allowed range."""
    from rnnlab.tasks import get_task_class

    m, t = cfg.model, cfg.train
    _check_numbers(cfg)
    _choice(m.cell, CELLS, "cell type (model.cell)")
    _choice(m.impl, IMPLS, "implementation (model.impl)")
    _choice(t.optimizer, OPTIMIZERS, "optimizer (train.optimizer)")
    _choice(t.schedule, SCHEDULES, "LR schedule (train.schedule)")
    _choice(t.precision, PRECISIONS, "precision (train.precision)")
    _choice(cfg.device, DEVICES, "device")
    positive = {
        "model.hidden": m.hidden,
        "model.layers": m.layers,
        "train.batch_size": t.batch_size,
        "train.eval_every": t.eval_every,
        "train.eval_batch_size": t.eval_batch_size,
    }
    for where, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{where} must be a positive integer, got {value}")
    non_negative = {
        "model.fc_hidden": m.fc_hidden,
        "model.embedding_dim": m.embedding_dim,
        "model.char_dim": m.char_dim,
        "train.iters": t.iters,
        "train.epochs": t.epochs,
        "train.momentum": t.momentum,
        "train.weight_decay": t.weight_decay,
        "train.clip_grad": t.clip_grad,
        "train.warmup": t.warmup,
        "threads": cfg.threads,
    }
    for where, value in non_negative.items():
        if value < 0:
            raise ConfigError(f"{where} must not be negative, got {value}")
    check_seed(cfg.seed)
    if cfg.threads > MAX_THREADS:
        raise ConfigError(f"threads must be at most {MAX_THREADS}, got {cfg.threads}")
    if not t.lr > 0:
        raise ConfigError(f"train.lr must be a positive number, got {t.lr}")
    if not 0 <= m.dropout < 1:
        raise ConfigError(f"model.dropout must be in [0, 1), got {m.dropout}")
    if t.iters == 0 and t.epochs == 0:
        raise ConfigError("set train.iters or train.epochs to a positive number")
    if t.schedule == "step" and (t.lr_step <= 0 or not 0 < t.lr_gamma <= 1):
        raise ConfigError("the step schedule needs train.lr_step > 0 and 0 < train.lr_gamma <= 1")
    get_task_class(cfg.task).validate_config(cfg)


# --------------------------------------------------------------------------- files, presets


def _parse_toml(text: str, origin: str) -> dict[str, Any]:
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


def _preset_top_level(name: str, key: str) -> Any:
    return _parse_toml(preset_text(name), f"preset '{name}'").get(key)


def preset_published(name: str) -> float | None:
    """The test accuracy (%) the tutorials report for a preset's recipe on MNIST, if any."""
    value = _preset_top_level(name, "published")
    return float(value) if value is not None else None


def presets() -> dict[str, str]:
    """The shipped presets: name -> one-line description."""
    return {name: str(_preset_top_level(name, "description") or "") for name in preset_names()}


def load_preset(name: str) -> RunConfig:
    values = _parse_toml(preset_text(name), f"preset '{name}'")
    values.setdefault("name", name)
    return from_dict(values)


def names_a_file(source: str | Path) -> bool:
    """Whether a name given for a preset (or a shipped sweep) means a TOML file instead: it
    ends in .toml, or a file of that name exists."""
    return str(source).endswith(".toml") or Path(source).is_file()


def load_config_file(path: str | Path) -> RunConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; give a TOML file or --preset NAME")
    values = _parse_toml(path.read_text(encoding="utf-8"), f"config file {path}")
    values.setdefault("name", path.stem)
    return from_dict(values)


def to_toml(cfg: RunConfig) -> str:
    """Write a config back as TOML, so every run folder holds a file that re-runs it."""
    d = cfg.to_dict()
    lines = []
    for key in _field_types(_TopLevel):
        lines.append(f"{key} = {_toml_value(d[key])}")
    for section in _SECTIONS:
        lines.append(f"\n[{section}]")
        for key, value in (d[section] or {}).items():
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


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


# --------------------------------------------------------------------------- overrides


def _resolve(cfg: RunConfig, dotted: str) -> tuple[Any, str, Any]:
    """The object holding a dotted field, its key and its declared type, or a one-line error."""
    parts = dotted.split(".")
    unknown = f"unknown setting '{dotted}'; use SECTION.FIELD, e.g. model.hidden=256"
    if len(parts) == 1 and parts[0] not in _SECTIONS:
        target, section, key, types = cfg, "run", parts[0], _field_types(_TopLevel)
        if key not in types:
            raise ConfigError(unknown)
    elif len(parts) == 2 and parts[0] in _SECTIONS:
        section, key = parts
        target = getattr(cfg, section)
        types = _field_types(type(target))
        if key not in types:
            raise ConfigError(
                f"unknown field '{key}' in [{section}]; valid fields: {', '.join(types)}"
            )
    else:
        raise ConfigError(unknown)
    return target, key, types[key]


def field_type(cfg: RunConfig, dotted: str) -> Any:
    """The declared type of a field such as "model.hidden" or "seed" (the data section's
    fields depend on cfg's task), or a one-line error naming the valid ones."""
    return _resolve(cfg, dotted)[2]


def field_value(cfg: RunConfig, dotted: str) -> Any:
    """The value of a field such as "model.hidden" or "seed", or a one-line error."""
    target, key, _ = _resolve(cfg, dotted)
    return getattr(target, key)


def apply_override(cfg: RunConfig, dotted: str, raw: Any) -> None:
    """Set one field, e.g. ("model.hidden", "256") or ("seed", 3), type-checked."""
    target, key, kind = _resolve(cfg, dotted)
    setattr(target, key, _coerce(raw, kind, dotted))
    if dotted == "train.iters" and cfg.train.iters > 0:
        cfg.train.epochs = 0.0  # the later of --iters / --epochs wins
    elif dotted == "train.epochs" and cfg.train.epochs > 0:
        cfg.train.iters = 0


def override_items(overrides: dict[str, Any] | list[str] | None) -> list[tuple[str, Any]]:
    """{"model.hidden": 256} or ["model.hidden=256"] as (field, value) pairs, in order."""
    if not overrides:
        return []
    if isinstance(overrides, dict):
        return list(overrides.items())
    items = []
    for text in overrides:
        if "=" not in text:
            raise ConfigError(f"--set expects SECTION.FIELD=VALUE, got '{text}'")
        key, value = text.split("=", 1)
        items.append((key.strip(), value.strip()))
    return items


def apply_overrides(cfg: RunConfig, overrides: dict[str, Any] | list[str]) -> RunConfig:
    """Apply {"model.hidden": 256} or ["model.hidden=256"] and re-validate the result."""
    for key, value in override_items(overrides):
        apply_override(cfg, key, value)
    validate(cfg)
    return cfg
