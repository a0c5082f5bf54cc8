"""The settings of a run: one `RunConfig` of dataclasses, built and type-checked from nested
dicts (a parsed TOML file, a checkpoint's config) and then validated."""

from __future__ import annotations

import dataclasses
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
    --set train.iters=1e4 accept the same."""
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
    types = field_types(cls)
    unknown = sorted(set(values) - set(types))
    if unknown:
        valid = ", ".join(f.name for f in dataclasses.fields(cls))
        if section == "run":
            raise ConfigError(
                f"unknown top-level setting '{unknown[0]}'; valid ones: {valid} and the "
                f"tables {', '.join(f'[{s}]' for s in SECTIONS)}"
            )
        raise ConfigError(f"unknown field '{unknown[0]}' in [{section}]; valid fields: {valid}")
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
    sections = {k: values.pop(k, None) for k in SECTIONS}
    for key in ("preset", "description", "published"):  # informational keys of preset files
        values.pop(key, None)
    top = build_section(TopLevel, values, "run")
    task_cls = get_task_class(top.task)
    cfg = RunConfig(
        **dataclasses.asdict(top),
        data=build_section(task_cls.DataConfig, sections["data"], "data"),
        model=build_section(ModelConfig, sections["model"], "model"),
        train=build_section(TrainConfig, sections["train"], "train"),
    )
    validate(cfg)
    return cfg
