"""The search space: `FIELD=SPEC` strings parsed into typed, validated `Param`s."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from rnnlab.config import MAX_INT, RunConfig, apply_override, field_type, field_value, validate
from rnnlab.errors import ConfigError
from rnnlab.experiments.sweep.text import value_text

_TOP_LEVEL = ("seed", "device", "threads")  # top-level fields a sweep may change
_EXAMPLE = "e.g. train.lr=log:1e-4:1e-1, train.iters=int:1000:6000:1000, train.optimizer=sgd,adam"


@dataclass(frozen=True)
class Param:
    """One swept field: a range (int or float, optionally log-scaled) or a list of values."""

    field: str
    spec: str
    kind: str  # "int" | "float" | "choice"
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        if self.kind == "choice":
            return trial.suggest_categorical(self.field, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(
                self.field, int(self.low), int(self.high), step=int(self.step or 1), log=self.log
            )
        return trial.suggest_float(self.field, self.low, self.high, step=self.step, log=self.log)

    def contains(self, value: Any) -> bool:
        if self.kind == "choice":
            return value in self.choices
        if not self.low <= value <= self.high:
            return False
        if self.step:
            steps = (value - self.low) / self.step
            return math.isclose(steps, round(steps), abs_tol=1e-9)
        return True

    def size(self) -> int | None:
        """How many values the sampler can draw; None for a float range without a step."""
        if self.kind == "choice":
            return len(self.choices)
        if self.kind == "float" and not self.step:
            return None
        return round((self.high - self.low) / (self.step or 1)) + 1

    def describe(self) -> str:
        if self.kind == "choice":
            return f"{self.field} in {{{', '.join(value_text(c) for c in self.choices)}}}"
        scale = "log " if self.log else ""
        step = f" step {value_text(self.step)}" if self.step else ""
        return (
            f"{self.field} {scale}{self.kind} {value_text(self.low)}..{value_text(self.high)}{step}"
        )


def parse_space(space: dict[str, Any] | list[str], base: RunConfig) -> dict[str, Param]:
    """`{"train.lr": "log:1e-4:1e-1"}` or `["train.lr=log:1e-4:1e-1"]`, checked against `base`."""
    out = {name: parse_param(name, spec, base) for name, spec in space_dict(space).items()}
    if not out:
        raise ConfigError(f"nothing to sweep: give at least one --param FIELD=SPEC ({_EXAMPLE})")
    return out


def space_size(params: dict[str, Param]) -> int | None:
    """The number of combinations of a space, or None where a range is continuous."""
    sizes = [p.size() for p in params.values()]
    return None if None in sizes else math.prod(sizes)


def space_dict(space: dict[str, Any] | list[str]) -> dict[str, str]:
    """The space as FIELD -> SPEC strings, from a dict or from `--param FIELD=SPEC` texts.
    A dict's value may also be a list of values, `{"model.hidden": [64, 128]}`: the same
    choice as the SPEC "64,128" (and so the same study as `--param model.hidden=64,128`)."""
    if isinstance(space, dict):
        return {str(k).strip(): _spec_text(str(k).strip(), v) for k, v in space.items()}
    if isinstance(space, str):  # a lone "FIELD=SPEC" would be read one character at a time
        raise ConfigError(
            f"the space must be a dict {{FIELD: SPEC}} or a list of 'FIELD=SPEC' strings, got "
            f"the string {space!r}; wrap it in a list: [{space!r}]"
        )
    out: dict[str, str] = {}
    for text in space:
        if not isinstance(text, str):
            raise ConfigError(f"--param expects FIELD=SPEC strings, got {text!r}; {_EXAMPLE}")
        if "=" not in text:
            raise ConfigError(f"--param expects FIELD=SPEC, got '{text}'; {_EXAMPLE}")
        name, spec = (part.strip() for part in text.split("=", 1))
        if name in out:
            raise ConfigError(f"--param {name} is given twice; give each field once")
        out[name] = spec
    return out


def _spec_text(name: str, value: Any) -> str:
    """A dict value of the space as a SPEC string: a string as it is, a number or a bool as
    one value to try, a list or tuple as the values to try."""
    where = f"space[{name!r}]"
    if isinstance(value, range):  # as compare's grid takes one
        value = list(value)
    if isinstance(value, list | tuple):
        if not value:
            raise ConfigError(f"{where} is an empty list; list the values to try, e.g. [64, 128]")
        texts = []
        for item in value:
            text = _value_spec(where, item)
            if "," in text:
                raise ConfigError(
                    f"{where}: the value {text!r} holds a comma, which separates values; "
                    "list each value as its own item"
                )
            texts.append(text)
        return ",".join(texts)
    return _value_spec(where, value)


def _value_spec(where: str, value: Any) -> str:
    if isinstance(value, bool):  # as a config file spells it ("True" is no TOML boolean)
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value).strip()  # str(float) is the shortest text that reads back the same
    raise ConfigError(
        f"{where} must be a SPEC string such as 'log:1e-4:1e-1' or a list of values such as "
        f"[64, 128], got {value!r}"
    )


def parse_param(name: str, spec: str, base: RunConfig) -> Param:
    """One `FIELD=SPEC`; every bound and value is typed and validated like a config value."""
    name, spec = name.strip(), str(spec).strip()
    where = f"--param {name}={spec}"
    if not name:
        raise ConfigError(f"{where} names no field; use FIELD=SPEC, {_EXAMPLE}")
    kind = sweepable_type(base, name)
    _refuse_objective_data(base, name)
    match = re.fullmatch(r"(log|float|int):(.*)", spec)
    if match:
        return _parse_range(name, spec, match.group(1), match.group(2), kind, base)
    if ":" in spec and kind is not str:
        raise ConfigError(
            f"{where}: unknown range form; use log:LOW:HIGH, float:LOW:HIGH, int:LOW:HIGH[:STEP] "
            "or a list of values a,b,c"
        )
    raw = [part.strip() for part in spec.split(",")]
    if not spec or any(not part for part in raw):
        raise ConfigError(
            f"{where}: give the values to try separated by commas with none empty, e.g. "
            f"{name}={example_values(kind)}"
        )
    choices = []
    for value in raw:
        typed = _checked_value(base, name, value, where)
        if typed in choices:
            raise ConfigError(f"{where}: the value {value} is listed twice; list each value once")
        choices.append(typed)
    return Param(name, spec, "choice", choices=tuple(choices))


def _parse_range(name: str, spec: str, form: str, rest: str, kind: type, base: RunConfig) -> Param:
    where = f"--param {name}={spec}"
    parts = rest.split(":")
    usage = {
        "log": "log:LOW:HIGH, e.g. log:1e-4:1e-1",
        "float": "float:LOW:HIGH[:STEP], e.g. float:0.001:0.1",
        "int": "int:LOW:HIGH[:STEP], e.g. int:1000:6000:1000",
    }[form]
    if len(parts) not in ((2,) if form == "log" else (2, 3)):
        raise ConfigError(f"{where}: expected {usage}")
    if kind in (str, bool):
        raise ConfigError(
            f"{where}: {name} is not a number; list the values to try instead, e.g. "
            f"{name}={example_values(kind)}"
        )
    if form == "int" and kind is not int:
        raise ConfigError(f"{where}: {name} is a float field; use float:LOW:HIGH or log:LOW:HIGH")
    if form == "float" and kind is not float:
        raise ConfigError(f"{where}: {name} is an integer field; use int:LOW:HIGH[:STEP]")
    numbers = []
    for text in parts:
        if kind is int and re.fullmatch(r"\s*[+-]?\d+\s*", text):
            # exactly: float() would round 10**23 to 99999999999999991611392
            numbers.append(int(text))
            continue
        try:
            number = float(text)
        except ValueError:
            raise ConfigError(f"{where}: '{text}' is not a number; expected {usage}") from None
        if not math.isfinite(number):
            raise ConfigError(f"{where}: '{text}' is not a finite number; expected {usage}")
        if kind is int and not number.is_integer():
            raise ConfigError(f"{where}: {name} is an integer field, so '{text}' must be whole")
        numbers.append(int(number) if kind is int else number)
    low, high = numbers[0], numbers[1]
    step = numbers[2] if len(numbers) == 3 else None
    if not low < high:
        raise ConfigError(f"{where}: LOW must be below HIGH (got {low} and {high}); {usage}")
    if form == "log" and low <= 0:
        raise ConfigError(f"{where}: a log range needs LOW > 0 (got {low}); {usage}")
    if step is not None:
        if step <= 0:
            raise ConfigError(f"{where}: STEP must be positive (got {step}); {usage}")
        count = (high - low) / step
        if not math.isclose(count, round(count), rel_tol=0, abs_tol=1e-9):
            raise ConfigError(
                f"{where}: {low}..{high} is not a whole number of steps of {step}; "
                "choose HIGH = LOW + a multiple of STEP"
            )
    for text, bound in zip(parts, (low, high)):
        _checked_value(base, name, bound, where, shown=text.strip())
    return Param(name, spec, "float" if kind is float else "int", low, high, step, form == "log")


def sweepable_type(cfg: RunConfig, name: str) -> type:
    """The declared type of a sweepable field, or a one-line error naming the valid ones."""
    if "." not in name:  # of the top-level settings a sweep keeps one task and names its runs
        if name in ("task", "name"):
            raise ConfigError(
                f"--param {name}: '{name}' cannot be swept (a sweep keeps one task, and names "
                f"each trial's run itself); sweep SECTION.FIELD or one of: {', '.join(_TOP_LEVEL)}"
            )
        if name not in _TOP_LEVEL:
            raise ConfigError(
                f"--param {name}: unknown setting; use SECTION.FIELD (e.g. train.lr) or one of: "
                f"{', '.join(_TOP_LEVEL)}"
            )
    try:
        return field_type(cfg, name)
    except ConfigError as exc:
        raise ConfigError(f"--param {name}: {exc}") from None


def _refuse_objective_data(cfg: RunConfig, name: str) -> None:
    from rnnlab.tasks import get_task_class

    if name in get_task_class(cfg.task).scoring_data_fields:
        raise ConfigError(
            f"--param {name}: {name} chooses the data each trial is scored on, so trials with "
            f"different values could not be compared; fix it for the whole sweep with --set "
            f"{name}=VALUE (or run one sweep per value, each with its --study NAME)"
        )


def _checked_value(
    cfg: RunConfig, name: str, raw: Any, where: str, shown: str | None = None
) -> Any:
    """`raw` typed as the field's type and validated on a copy of the config; `shown` is how
    the user wrote it (a range's bound), for the message."""
    probe = cfg.copy()
    try:
        apply_override(probe, name, raw)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    value = field_value(probe, name)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        # validate() would say only "too large": name the bound, as a fix needs it
        limit = (
            f"the most it can be is 2**63-1 ({MAX_INT}), the largest integer a run records"
            if value > 0
            else f"the least it can be is -(2**63-1) ({-MAX_INT})"
        )
        which = "large" if value > 0 else "small"
        raise ConfigError(f"{where}: {shown or raw} is too {which} for {name}; {limit}")
    try:
        validate(probe)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return value


def example_values(kind: type) -> str:
    """A list of values of a field's type, for the examples in error messages."""
    return {bool: "true,false", int: "32,64,128", float: "0.001,0.01"}.get(kind, "sgd,adam")
