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
import unicodedata
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


def coerce_value(value: Any, kind: Any, where: str) -> Any:
    """A value for a field of type `kind` ("1e4" -> 10000 for an int), or a one-line error:
    the command line's flags parse with this too, so --iters 1e4 and --set train.iters=1e4
    accept the same."""
    return _coerce(value, kind, where)


def build_section(cls: type, values: dict[str, Any] | None, section: str) -> Any:
    """Make dataclass `cls` from a dict, rejecting unknown keys with the list of valid ones.
    `section` "run" is the top level of a config file, whose fields are written bare."""
    if values is not None and not isinstance(values, dict):
        # `model = 5` or `data = [1, 2]` in a file: a value where a table belongs
        raise ConfigError(
            f"{section} must be a table of settings ([{section}] with lines such as "
            f"field = value), got {section} = {values!r}"
        )
    values = dict(values or {})
    types = _field_types(cls)
    unknown = sorted(set(values) - set(types))
    if unknown:
        valid = ", ".join(f.name for f in dataclasses.fields(cls))
        if section == "run":
            raise ConfigError(
                f"unknown top-level setting '{unknown[0]}'; valid ones: {valid} and the "
                f"tables {', '.join(f'[{s}]' for s in _SECTIONS)}"
            )
        raise ConfigError(f"unknown field '{unknown[0]}' in [{section}]; valid fields: {valid}")
    # top-level fields are named as --set takes them: "seed", not "run.seed"
    kwargs = {
        k: _coerce(v, types[k], k if section == "run" else f"{section}.{k}")
        for k, v in values.items()
    }
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
# torch turns float settings (lr, weight decay) into float32 scalars: beyond this they overflow
MAX_FLOAT = 3.4028234663852886e38
MAX_THREADS = 1024  # far past any CPU; torch crashes on absurd thread counts
# Building a model is a Python loop over its layers: 10**8 layers hang instead of failing.
# Widths need no such bound: an absurd one fails at once with the out-of-memory line.
MAX_LAYERS = 1000
# train.epochs times the batches of an epoch is the run's length, which the results store
# (a 64-bit integer) records; 1e300 epochs would fail there after the run was created.
MAX_EPOCHS = 1_000_000
# The run folder is NAME-ID: the name's UTF-8 plus "-" and up to 19 digits must fit the
# 255 bytes most file systems allow for a file name.
MAX_NAME_BYTES = 200


def check_device(name: str) -> None:
    """auto, cpu, cuda, cuda:N or mps: the devices a run or a loaded checkpoint can use
    (whether this machine has it is resolve_device's question)."""
    base, colon, index = name.partition(":")
    if base in DEVICES and not colon:
        return
    if base == "cuda" and index.isascii() and index.isdigit():
        return
    raise ConfigError(
        f"unknown device '{name}'; choose one of: {', '.join(DEVICES)}, or cuda:N for one GPU"
    )


def check_name(name: str) -> None:
    """A run name that fits a folder name and prints on one line in `rnnlab runs`. Empty is
    the unset default (the run is named after its task); naming a run "" is refused by
    apply_override, where the user gives it."""
    bad = [c for c in name if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp")]
    if bad:
        raise ConfigError(
            f"name {name!r} contains the control character {bad[0]!r}; give a name of "
            "printable characters (letters, digits, - and _ read best)"
        )
    size = len(name.encode("utf-8", errors="surrogatepass"))
    if size > MAX_NAME_BYTES:
        raise ConfigError(
            f"name is too long: {len(name)} characters ({size} bytes in UTF-8) where the run "
            f"folder allows {MAX_NAME_BYTES} bytes; give a shorter name"
        )


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
            # (train.epochs never reaches torch; validate gives it a bound of its own)
            if isinstance(value, float) and abs(value) > MAX_FLOAT and where != "train.epochs":
                raise ConfigError(
                    f"{where} is too large: {value:g}; the most a float32 model can use is "
                    f"{MAX_FLOAT:.3g}"
                )
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
                raise ConfigError(f"{where} is too large: {value}; the most it can be is 2**63-1")


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
    check_device(cfg.device)
    check_name(cfg.name)
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
    if m.layers > MAX_LAYERS:
        raise ConfigError(f"model.layers must be at most {MAX_LAYERS}, got {m.layers}")
    if t.epochs > MAX_EPOCHS:
        raise ConfigError(
            f"train.epochs must be at most {MAX_EPOCHS:,}, got {t.epochs:g}; "
            "for a longer run give train.iters"
        )
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
    if path.is_dir():
        raise ConfigError(f"config file {path} is a folder; give a TOML file or --preset NAME")
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; give a TOML file or --preset NAME")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:  # a checkpoint, an image, ... given by mistake
        raise ConfigError(
            f"config file {path} is not a TOML text file (not UTF-8; a checkpoint .pt, say); "
            "give a TOML config, or --resume CKPT to continue a checkpoint"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path} ({exc.strerror})") from None
    values = _parse_toml(text, f"config file {path}")
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
    value = _coerce(raw, kind, dotted)
    if dotted == "task" and value != cfg.task:
        _refuse_task_change(cfg.task, value)
    if dotted == "name" and not value.strip():
        raise ConfigError(
            "name must not be empty; give a name, or leave --name out to name the run after "
            "its preset or config file"
        )
    setattr(target, key, value)
    if dotted == "train.iters" and cfg.train.iters > 0:
        cfg.train.epochs = 0.0  # the later of --iters / --epochs wins
    elif dotted == "train.epochs" and cfg.train.epochs > 0:
        cfg.train.iters = 0


def _refuse_task_change(current: str, wanted: str) -> None:
    """The data section is the task's own dataclass and the model and training settings
    were chosen for the task: an override cannot turn one task's config into another's."""
    from rnnlab.tasks import get_task_class

    get_task_class(wanted)  # an unknown task says so, with the known ones
    shipped = [n for n in preset_names() if _preset_top_level(n, "task") == wanted]
    start = (
        f"--preset {shipped[0]} ({wanted} presets: {', '.join(shipped)})"
        if shipped
        else f'a config file with task = "{wanted}"'
    )
    raise ConfigError(
        f"task={wanted} cannot be set on a {current} config (its data, model and train "
        f"settings are a {current} run's); start from a {wanted} config instead, e.g. {start}"
    )


def _nonzero(value: Any) -> bool:
    """A length override that sets something (0 unsets train.iters or train.epochs)."""
    try:
        return value is not None and float(value) != 0
    except (TypeError, ValueError):
        return True  # not a number: the field's own check will say so


def check_overrides(
    items: list[tuple[str, Any]],
    labels: list[str] | None = None,
    lengths: str = "train.iters or train.epochs",
) -> None:
    """One set of overrides names each field once, and not both train.iters and
    train.epochs: otherwise which one counts would depend on their order. `labels` say how
    each item was given (the command line's "--lr 0.1"), `lengths` how the two are named."""
    shown = labels or [f"{key}={value}" for key, value in items]
    seen: dict[str, tuple[Any, str]] = {}  # field -> (value, how it was given)
    for (key, value), how in zip(items, shown):
        if key in seen and str(seen[key][0]) != str(value):  # the same value twice is fine
            raise ConfigError(f"{key} is given twice: {seen[key][1]} and {how}; give it once")
        seen[key] = (value, how)
    iters, epochs = seen.get("train.iters"), seen.get("train.epochs")
    # 0 unsets a length (train.epochs=0.5 with train.iters=0 is one clear request)
    if iters and epochs and _nonzero(iters[0]) and _nonzero(epochs[0]):
        raise ConfigError(f"give {lengths}, not both ({iters[1]}, {epochs[1]})")


def override_items(overrides: dict[str, Any] | list[str] | None) -> list[tuple[str, Any]]:
    """{"model.hidden": 256} or ["model.hidden=256"] as (field, value) pairs, in order."""
    if not overrides:
        return []
    if isinstance(overrides, dict):
        return list(overrides.items())
    if isinstance(overrides, str):  # it would be read one character at a time
        raise ConfigError(
            f"overrides must be a dict {{FIELD: VALUE}} or a list of 'FIELD=VALUE' strings, got "
            f"the string {overrides!r}; wrap it in a list: [{overrides!r}]"
        )
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
