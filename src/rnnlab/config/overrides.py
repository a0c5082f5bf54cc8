"""Overrides: single fields of a config set by name ("model.hidden=256", --lr 0.1),
type-checked, and the config validated again."""

from __future__ import annotations

from typing import Any

from rnnlab.config.checks import validate
from rnnlab.config.files import preset_names, preset_top_level, toml_value, tomllib
from rnnlab.config.schema import (
    SECTIONS,
    ModelConfig,
    RunConfig,
    TopLevel,
    TrainConfig,
    coerce_value,
    field_types,
    near_miss,
)
from rnnlab.errors import ConfigError


def _resolve(cfg: RunConfig, dotted: str) -> tuple[Any, str, Any]:
    """The object holding a dotted field, its key and its declared type, or a one-line error."""
    parts = dotted.split(".")
    target: Any = cfg
    if len(parts) == 1 and parts[0] not in SECTIONS:
        types = field_types(TopLevel)
    elif len(parts) == 2 and parts[0] in SECTIONS:
        target = getattr(cfg, parts[0])
        types = field_types(type(target))
    else:
        types = {}
    key = parts[-1]
    if key in types:
        return target, key, types[key]
    guess = near_miss(dotted, cfg.task) if dotted else None
    hint = f" (did you mean {guess}?)" if guess else ""
    if len(parts) == 2 and parts[0] in SECTIONS:
        raise ConfigError(
            f"unknown field '{key}' in [{parts[0]}]{hint}; valid fields: {', '.join(types)}"
        )
    raise ConfigError(f"unknown setting '{dotted}'{hint}; use SECTION.FIELD, e.g. model.hidden=256")


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
    value = coerce_value(raw, kind, dotted)
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
    shipped = [n for n in preset_names() if preset_top_level(n, "task") == wanted]
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


def _declared_types(dotted: str) -> set[Any]:
    """The types a field may have: one, except for a data field that tasks declare apart
    (none when no section declares it: the field's own check will say so)."""
    from rnnlab.tasks import TASKS, get_task_class

    section, _, key = dotted.rpartition(".")
    fixed = {"": TopLevel, "model": ModelConfig, "train": TrainConfig}
    if section == "data":
        owners = [field_types(get_task_class(task).DataConfig) for task in TASKS]
    else:
        owners = [field_types(fixed[section])] if section in fixed else []
    return {types[key] for types in owners if key in types}


def unquote(text: str, key: str = "FIELD") -> str:
    """A --set value written as a TOML string ("my run" or 'my run', as in a config file)
    is that string, without its quotes, for every field alike; any other text is kept."""
    if len(text) < 2 or text[0] not in "\"'" or text[-1] != text[0]:
        return text
    try:  # TOML's own reading: escapes in "...", none in '...', as in a config file
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = None
    if not isinstance(value, str):  # '"a" "b"' is no one string: say so, keep no quotes
        raise ConfigError(
            f"{key}={text} is not one TOML string; quote the whole value once "
            f"(--set '{key}=\"my value\"') or leave the quotes out"
        )
    return value


def _same_value(dotted: str, first: Any, second: Any) -> bool:
    """Whether two values given for one field mean the same: a flag has already read its
    value (--iters 1e4 is 10000, --epochs 1 is 1.0) while --set keeps the text, so "1e4"
    and 10000 must compare as the field reads them (and "x" as x, as --set reads it)."""
    first, second = (unquote(v, dotted) if isinstance(v, str) else v for v in (first, second))
    if str(first) == str(second):
        return True
    kinds = _declared_types(dotted)
    if len(kinds) != 1:
        return False
    (kind,) = kinds
    try:
        return bool(coerce_value(first, kind, dotted) == coerce_value(second, kind, dotted))
    except ConfigError:
        return False


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
        if key in seen and not _same_value(key, seen[key][0], value):  # the same twice is fine
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
        items.append((key.strip(), unquote(value.strip(), key.strip())))
    return items


def override_text(key: str, value: Any) -> str:
    """FIELD=VALUE text that override_items reads back as `value`: a string it would read
    otherwise (one in quotes, or with spaces around it, as --name '"x"' gives) is written
    as a TOML string, so a flag's value is taken as it is."""
    if isinstance(value, str):
        try:
            same = unquote(value.strip(), key) == value
        except ConfigError:  # '"a" "b"': no one TOML string, but a flag's plain value
            same = False
        if not same:
            return f"{key}={toml_value(value)}"
    return f"{key}={value}"


def apply_overrides(cfg: RunConfig, overrides: dict[str, Any] | list[str]) -> RunConfig:
    """Apply {"model.hidden": 256} or ["model.hidden=256"] and re-validate the result."""
    for key, value in override_items(overrides):
        apply_override(cfg, key, value)
    validate(cfg)
    return cfg
