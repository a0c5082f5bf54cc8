"""The settings of a run: one `RunConfig` of dataclasses, built and type-checked from nested
dicts (a parsed TOML file, a checkpoint's config) and then validated."""

from __future__ import annotations

import dataclasses
import difflib
import numbers
import typing
from dataclasses import dataclass, field
from typing import Any

from rnnlab.config.checks import validate
from rnnlab.errors import ConfigError

SECTIONS = ("data", "model", "train")  # the tables of a config file


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
class TopLevel:
    """The settings of a run outside any [section] of its config file."""

    task: str = "classify"
    name: str = ""
    seed: int = 0
    device: str = "auto"
    threads: int = 0  # torch intra-op threads; 0 = torch's default


@dataclass
class RunConfig(TopLevel):
    data: Any = None  # the task's own data dataclass
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def copy(self) -> RunConfig:
        return from_dict(self.to_dict())


def field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def coerce_value(value: Any, kind: Any, where: str) -> Any:
    """A value for a field of type `kind` ("1e4" -> 10000 for an int), or a one-line error:
    TOML files, --set and the command line's flags all parse with this, so --iters 1e4 and
    --set train.iters=1e4 accept the same. A NumPy number from Python (np.int64(8),
    np.float32(0.1), np.True_) is the number it holds."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        if _numpy_bool(value):
            return bool(value)
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    if kind is int:
        if isinstance(value, bool) or _numpy_bool(value):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, numbers.Real) and float(value).is_integer():
            return int(float(value))
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
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            try:
                return float(value)
            except OverflowError:  # an integer of hundreds of digits (TOML or Python) has no float
                raise ConfigError(
                    f"{where} is too large: a number of {len(str(abs(value)))} digits, past "
                    "the largest float (about 1.8e308)"
                ) from None
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


def _numpy_bool(value: Any) -> bool:
    """np.True_ and np.False_ (a NumPy comparison's result), which are no Python bool."""
    return (
        type(value).__module__ == "numpy"
        and getattr(value, "ndim", None) == 0
        and getattr(value, "dtype", None) == "bool"
    )


def known_fields(task: str | None = None) -> list[str]:
    """Every field as --set names it ("seed", "model.hidden"), with the data fields of
    `task` (of every task when it is None or unknown)."""
    from rnnlab.tasks import TASKS, get_task_class

    tasks = [task] if task in TASKS else list(TASKS)
    names = list(field_types(TopLevel))
    for t in tasks:
        names += [f"data.{k}" for k in field_types(get_task_class(t).DataConfig)]
    names += [f"model.{k}" for k in field_types(ModelConfig)]
    names += [f"train.{k}" for k in field_types(TrainConfig)]
    return list(dict.fromkeys(names))


def near_miss(name: str, task: str | None = None) -> str | None:
    """The field a mistyped or misplaced name most likely means: "hidden" and
    "train.hidden" -> "model.hidden", "model.hiden" and "modle.hidden" -> "model.hidden"."""
    fields = known_fields(task)
    key = name.rpartition(".")[2]
    same_key = [f for f in fields if f.rpartition(".")[2] == key and f != name]
    if same_key:
        return same_key[0]
    close = difflib.get_close_matches(name, fields, n=1, cutoff=0.8)
    if close:
        return close[0]
    section = name.rpartition(".")[0]
    # a near key in the section named first, then in any section
    for group in ([f for f in fields if f.rpartition(".")[0] == section], fields):
        keys = [f.rpartition(".")[2] for f in group]
        close = difflib.get_close_matches(key, keys, n=1, cutoff=0.75)
        if close:
            return group[keys.index(close[0])]
    return None


def _as_written(dotted: str, section: str) -> str:
    """How a suggested field is written in a file whose table is `section`."""
    table, _, key = dotted.rpartition(".")
    if table == section or (not table and section == "run"):
        return key
    return f"{key} under [{table}]" if table else f"{key} at the top, before any [table]"


def build_section(
    cls: type, values: dict[str, Any] | None, section: str, task: str | None = None
) -> Any:
    """Make dataclass `cls` from a dict, rejecting unknown keys with the list of valid ones
    (and the field a near miss means). `section` "run" is the top level of a config file,
    whose fields are written bare."""
    if values is not None and not isinstance(values, dict):
        # `model = 5` or `data = [1, 2]` in a file: a value where a table belongs
        raise ConfigError(
            f"{section} must be a table of settings ([{section}] with lines such as "
            f"field = value), got {section} = {values!r}"
        )
    values = dict(values or {})
    types = field_types(cls)
    unknown = sorted(set(values) - set(types), key=str)  # a dict from Python: any keys
    if unknown:
        valid = ", ".join(f.name for f in dataclasses.fields(cls))
        name = str(unknown[0])
        if section == "run":
            table = difflib.get_close_matches(name, SECTIONS, n=1, cutoff=0.6)
            field_guess = near_miss(name, task)
            guess = f"[{table[0]}]" if table else field_guess and _as_written(field_guess, "run")
            hint = f" (did you mean {guess}?)" if guess else ""
            raise ConfigError(
                f"unknown top-level setting '{name}'{hint}; valid ones: {valid} and the "
                f"tables {', '.join(f'[{s}]' for s in SECTIONS)}"
            )
        guess = near_miss(f"{section}.{name}", task)
        hint = f" (did you mean {_as_written(guess, section)}?)" if guess else ""
        inner = values[unknown[0]]
        if name in SECTIONS and isinstance(inner, dict) and inner:
            # `model.layers = 2` under [model] is the table model.model
            key, value = next(iter(inner.items()))
            setting = f"{key} = {value!r}"
            hint = f" (write {setting} under [{name}], not {name}.{setting} under [{section}])"
        raise ConfigError(f"unknown field '{name}' in [{section}]{hint}; valid fields: {valid}")
    # top-level fields are named as --set takes them: "seed", not "run.seed"
    kwargs = {
        k: coerce_value(v, types[k], k if section == "run" else f"{section}.{k}")
        for k, v in values.items()
    }
    return cls(**kwargs)


def from_dict(values: dict[str, Any]) -> RunConfig:
    """Build and validate a RunConfig from nested dicts (a parsed TOML file or a checkpoint)."""
    from rnnlab.tasks import get_task_class  # late import: tasks import this module

    values = dict(values)
    if "preset" in values:
        _refuse_preset_key(values["preset"])
    sections = {k: values.pop(k, None) for k in SECTIONS}
    for key in ("description", "published"):  # informational keys of preset files
        values.pop(key, None)
    task = values.get("task") if isinstance(values.get("task"), str) else None
    top = build_section(TopLevel, values, "run", task)
    task_cls = get_task_class(top.task)
    cfg = RunConfig(
        **dataclasses.asdict(top),
        data=build_section(task_cls.DataConfig, sections["data"], "data", top.task),
        model=build_section(ModelConfig, sections["model"], "model", top.task),
        train=build_section(TrainConfig, sections["train"], "train", top.task),
    )
    validate(cfg)
    return cfg


def _refuse_preset_key(preset: Any) -> None:
    """`preset = "seed-c"` in a config reads as "start from seed-c", but a config is whole:
    every setting it leaves out has the default, not the preset's (study and sweep files,
    which name a preset, are read by their own commands)."""
    name = preset if isinstance(preset, str) else "NAME"
    raise ConfigError(
        f"a config does not build on a preset (preset = {preset!r}): the settings it leaves "
        f"out would take their defaults; start from the preset's whole config (rnnlab train "
        f"--preset {name} --dry-run prints it) or train --preset {name} with --set FIELD=VALUE "
        "(a sweep file goes to rnnlab sweep --sweep FILE)"
    )
