"""Hyper-parameter sweeps: many ordinary rnnlab runs chosen by an Optuna study.

A sweep is a base config (a preset, a config file or a shipped sweep definition), a search
space (one `FIELD=SPEC` per swept field) and an objective measured on validation data, never
on test data. Each trial is one `rnnlab.api.train` run filed under the group `sweep:STUDY` in
the results store, so every trial can be listed, evaluated and resumed like any other run.

The study lives in one storage per study (an SQLite file under RUNS/sweeps/STUDY/ unless
`storage` names another Optuna URL), which is what makes a sweep resumable: the same command
continues it, counts what has finished, never re-runs it, and first retries the parameters of
a trial that was interrupted, continuing its run from the checkpoint.

Trials are driven with Optuna's ask/tell interface rather than `study.optimize`, because the
sweep has to decide itself what an interrupted, diverged or stale trial means.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import socket
import time
import warnings
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from rnnlab.config import RunConfig, apply_override, apply_overrides, field_type, validate
from rnnlab.errors import ConfigError, RnnlabError

SAMPLERS = ("tpe", "random", "grid")
DEFAULT_TRIALS = 20
CLASSIFY_VALIDATION = 5000  # held-out training images when a classify config has none
_TOP_LEVEL = ("seed", "device", "threads")  # top-level fields a sweep may change
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
_EXAMPLE = "e.g. train.lr=log:1e-4:1e-1, train.iters=int:1000:6000:1000, train.optimizer=sgd,adam"
# Fields of a trial's run that the study compares between calls; device and threads may differ
# between machines sharing a study, the run name is per trial.
_IGNORED_FOR_IDENTITY = ("name", "device", "threads")


def _optuna() -> Any:
    """Optuna, imported only when a sweep runs (it is not needed to import rnnlab)."""
    try:
        import optuna
    except ImportError:
        raise RnnlabError(
            "rnnlab sweep needs Optuna: install optuna (pip install optuna)"
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


# --------------------------------------------------------------------------- search space


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

    def describe(self) -> str:
        if self.kind == "choice":
            return f"{self.field} in {{{', '.join(_fmt(c) for c in self.choices)}}}"
        scale = "log " if self.log else ""
        step = f" step {_fmt(self.step)}" if self.step else ""
        return f"{self.field} {scale}{self.kind} {_fmt(self.low)}..{_fmt(self.high)}{step}"


def parse_space(space: dict[str, Any] | list[str], base: RunConfig) -> dict[str, Param]:
    """`{"train.lr": "log:1e-4:1e-1"}` or `["train.lr=log:1e-4:1e-1"]`, checked against `base`."""
    out = {name: parse_param(name, spec, base) for name, spec in _space_dict(space).items()}
    if not out:
        raise ConfigError(f"nothing to sweep: give at least one --param FIELD=SPEC ({_EXAMPLE})")
    return out


def _space_dict(space: dict[str, Any] | list[str]) -> dict[str, str]:
    if isinstance(space, dict):
        return {str(k).strip(): str(v).strip() for k, v in space.items()}
    out: dict[str, str] = {}
    for text in space:
        if "=" not in text:
            raise ConfigError(f"--param expects FIELD=SPEC, got '{text}'; {_EXAMPLE}")
        name, spec = (part.strip() for part in text.split("=", 1))
        if name in out:
            raise ConfigError(f"--param {name} is given twice; give each field once")
        out[name] = spec
    return out


def parse_param(name: str, spec: str, base: RunConfig) -> Param:
    """One `FIELD=SPEC`; every bound and value is typed and validated like a config value."""
    name, spec = name.strip(), str(spec).strip()
    where = f"--param {name}={spec}"
    if not name:
        raise ConfigError(f"{where} names no field; use FIELD=SPEC, {_EXAMPLE}")
    kind = _field_type(base, name)
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
            f"{name}={_example_values(kind)}"
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
            f"{name}={_example_values(kind)}"
        )
    if form == "int" and kind is not int:
        raise ConfigError(f"{where}: {name} is a float field; use float:LOW:HIGH or log:LOW:HIGH")
    if form == "float" and kind is not float:
        raise ConfigError(f"{where}: {name} is an integer field; use int:LOW:HIGH[:STEP]")
    numbers = []
    for text in parts:
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
    for bound in (low, high):
        _checked_value(base, name, bound, where)
    return Param(name, spec, "float" if kind is float else "int", low, high, step, form == "log")


def _field_type(cfg: RunConfig, name: str) -> type:
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


def _checked_value(cfg: RunConfig, name: str, raw: Any, where: str) -> Any:
    """`raw` typed as the field's type and validated on a copy of the config."""
    probe = cfg.copy()
    try:
        apply_override(probe, name, raw)
        validate(probe)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return _get(probe, name)


def _get(cfg: RunConfig, name: str) -> Any:
    obj: Any = cfg
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _example_values(kind: type) -> str:
    return {bool: "true,false", int: "32,64,128", float: "0.001,0.01"}.get(kind, "sgd,adam")


def metric_direction(name: str) -> str:
    """'minimize' for losses, perplexities, bits or nats per character; else 'maximize'."""
    from rnnlab.tasks.base import metric_higher_is_better

    return "maximize" if metric_higher_is_better(name) else "minimize"


# --------------------------------------------------------------------------- definitions


def _is_file_name(name: str) -> bool:
    return name.endswith(".toml") or Path(name).is_file()


def definition_names() -> list[str]:
    """The shipped sweep definitions (src/rnnlab/sweeps/*.toml)."""
    folder = resources.files("rnnlab") / "sweeps"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_definition(name: str) -> dict[str, Any]:
    """A sweep definition as a dict, its keys and their types checked: a shipped one by name,
    or a TOML file of the same form by its path."""
    from rnnlab.config import _parse_toml

    if _is_file_name(name):
        path: Any = Path(name)
        if not path.is_file():
            raise ConfigError(f"sweep file {name} does not exist; give a TOML file or a name")
    else:
        path = resources.files("rnnlab") / "sweeps" / f"{name}.toml"
        if not path.is_file():
            raise ConfigError(
                f"unknown sweep '{name}'; shipped sweeps: {', '.join(definition_names())} "
                "(rnnlab sweep --list shows them)"
            )
    values = _parse_toml(path.read_text(encoding="utf-8"), f"sweep '{name}'")
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


# --------------------------------------------------------------------------- the plan


@dataclass
class SweepPlan:
    """Everything a sweep will do, resolved and validated, before anything runs."""

    study: str
    source: str
    config: RunConfig
    space: dict[str, Param]
    trials: int
    timeout: float | None
    sampler: str
    sampler_seed: int
    prune: bool
    metric: str
    direction: str
    storage: str
    folder: Path
    runs_dir: Path
    data_dir: str | Path | None
    baseline: dict[str, Any] | None
    notes: list[str] = dataclasses.field(default_factory=list)
    objective: str = ""

    @property
    def group(self) -> str:
        return f"sweep:{self.study}"

    def describe(self, fresh: bool = True) -> list[str]:
        """The plan in a few lines; `fresh` = a new study (the baseline is queued only then)."""
        prune = "pruning on (median rule)" if self.prune else "no pruning"
        lines = [
            f"Sweep '{self.study}' of {self.source}: {self.trials} trials, sampler {self.sampler} "
            f"(seed {self.sampler_seed}), {prune}"
            + (f", time limit {self.timeout:g} s" if self.timeout else ""),
            f"Objective: {self.direction} {self.metric}; {self.objective}",
            "Space: " + " | ".join(p.describe() for p in self.space.values()),
        ]
        if self.baseline and fresh:
            lines.append(
                "Baseline: the config's own values are tried first: "
                + " ".join(f"{k}={_fmt(v)}" for k, v in self.baseline.items())
            )
        lines += self.notes
        lines.append(f"Study: {_masked(self.storage)}; files in {self.folder}")
        return lines


def plan_sweep(
    source: RunConfig | str | Path | dict | None = None,
    *,
    definition: str | None = None,
    space: dict[str, Any] | list[str] | None = None,
    overrides: dict[str, Any] | list[str] | None = None,
    trials: int | None = None,
    timeout: float | None = None,
    sampler: str | None = None,
    prune: bool | None = None,
    metric: str | None = None,
    study: str | None = None,
    storage: str | None = None,
    sampler_seed: int | None = None,
    baseline: bool | None = None,
    runs_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
) -> SweepPlan:
    """Resolve and validate a sweep without running anything (what `--dry-run` prints)."""
    from rnnlab.api import make_config
    from rnnlab.data.paths import default_runs_dir
    from rnnlab.tasks import get_task_class

    defaults: dict[str, Any] = {}
    if definition is not None:
        if source is not None:
            raise ConfigError(
                f"sweep '{definition}' names its own config; drop --preset/--config, or give "
                "--preset/--config with --param instead of --sweep"
            )
        defaults = load_definition(definition)
        source = defaults.get("preset") or dict(defaults["config"])
        source_text = f"sweep {definition} ({defaults.get('preset') or 'inline config'})"
        default_study = Path(definition).stem if _is_file_name(definition) else definition
    elif source is None:
        raise ConfigError(
            "say what to sweep: --preset NAME, --config FILE.toml or --sweep NAME "
            "(rnnlab sweep --list shows the shipped sweeps)"
        )
    elif isinstance(source, RunConfig | dict):
        source_text = "the given config"
        default_study = None
    elif str(source).endswith(".toml") or Path(source).is_file():
        source_text = f"config {source}"
        default_study = Path(source).stem
    else:
        source_text = f"preset {source}"
        default_study = str(source)

    fixed: list[str] = [f"{k}={v}" for k, v in (defaults.get("overrides") or {}).items()]
    if isinstance(overrides, dict):
        fixed += [f"{k}={v}" for k, v in overrides.items()]
    elif overrides:
        fixed += list(overrides)
    cfg = make_config(source, fixed)
    default_study = default_study or cfg.name or cfg.task

    notes: list[str] = []
    task_cls = get_task_class(cfg.task)
    if cfg.task == "classify" and cfg.data.validation == 0:
        held = CLASSIFY_VALIDATION
        if cfg.data.train_limit and held * 10 > cfg.data.train_limit:
            held = max(1, cfg.data.train_limit // 10)  # a tenth of a small training slice
        apply_overrides(cfg, {"data.validation": held})
        notes.append(
            f"Validation: the config holds out no validation images, so the sweep sets "
            f"data.validation={held} ({held} training images held out, the same for every trial)"
        )

    metric = metric or defaults.get("metric")
    if metric:
        metric = metric.strip()
        if metric == "test" or metric.startswith("test_"):
            suggestion = "val_acc or val_loss" if cfg.task == "classify" else "a validation metric"
            raise ConfigError(
                f"--metric {metric}: a sweep tunes on validation, never on test (test figures "
                f"are reported for every trial, not chosen on); use {suggestion}"
            )
        direction = metric_direction(metric)
        if metric == task_cls.primary_metric:
            direction = "maximize" if task_cls.higher_is_better else "minimize"
    elif cfg.task == "classify":
        metric, direction = "val_acc", "maximize"
    else:
        metric = task_cls.primary_metric
        direction = "maximize" if task_cls.higher_is_better else "minimize"
    if cfg.task == "classify":
        objective = (
            f"measured on the {cfg.data.validation} validation images at the end of each trial; "
            "test accuracy is reported, never tuned on"
        )
    else:
        objective = f"the {cfg.task} task's {metric} at the end of each trial"

    # a --param for a field of the definition's space replaces its SPEC
    params = parse_space({**(defaults.get("space") or {}), **_space_dict(space or {})}, cfg)

    sampler = (sampler or defaults.get("sampler") or "tpe").lower()
    if sampler not in SAMPLERS:
        raise ConfigError(f"unknown sampler '{sampler}'; choose one of: {', '.join(SAMPLERS)}")
    trials = trials if trials is not None else defaults.get("trials")
    if sampler == "grid":
        ranges = [p.field for p in params.values() if p.kind != "choice"]
        if ranges:
            raise ConfigError(
                f"--sampler grid enumerates lists of values, but {ranges[0]} is a range; give "
                f"it as a list (e.g. {ranges[0]}={_example_values(_field_type(cfg, ranges[0]))}) "
                "or use --sampler tpe or random"
            )
        size = math.prod(len(p.choices) for p in params.values())
        if trials is None or trials > size:
            if trials is not None:
                notes.append(f"Grid: {size} combinations, so {size} trials, not {trials}")
            trials = size
    trials = DEFAULT_TRIALS if trials is None else trials
    if trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {trials}")
    timeout = timeout if timeout is not None else defaults.get("timeout")
    if timeout is not None and timeout <= 0:
        raise ConfigError(f"--timeout must be a positive number of seconds, got {timeout}")

    wants_baseline = baseline if baseline is not None else defaults.get("baseline", False)
    baseline_params = None
    if wants_baseline and sampler == "grid":
        notes.append("Baseline: not enqueued with a grid (the grid holds the config's values)")
    elif wants_baseline:
        baseline_params = {}
        for p in params.values():
            value = _get(cfg, p.field)
            if not p.contains(value):
                raise ConfigError(
                    f"--baseline tries the config's own values first, but its {p.field}="
                    f"{_fmt(value)} is outside {p.describe()}; widen the range or drop --baseline"
                )
            baseline_params[p.field] = value

    name = study or default_study
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ConfigError(
            f"study name '{name}' may hold only letters, digits, '.', '_' and '-'; "
            "choose another with --study NAME"
        )
    runs_path = Path(runs_dir) if runs_dir else default_runs_dir()
    folder = runs_path / "sweeps" / name
    url = storage or f"sqlite:///{(folder / 'optuna.db').resolve()}"
    seed = sampler_seed if sampler_seed is not None else defaults.get("sampler_seed", cfg.seed)
    return SweepPlan(
        study=name,
        source=source_text,
        config=cfg,
        space=params,
        trials=int(trials),
        timeout=float(timeout) if timeout is not None else None,
        sampler=sampler,
        sampler_seed=int(seed),
        prune=bool(prune if prune is not None else defaults.get("prune", False)),
        metric=metric,
        direction=direction,
        storage=url,
        folder=folder,
        runs_dir=runs_path,
        data_dir=data_dir,
        baseline=baseline_params,
        notes=notes,
        objective=objective,
    )


# --------------------------------------------------------------------------- results


@dataclass
class TrialRecord:
    """One trial as the sweep reports it."""

    number: int
    state: str  # complete | pruned | diverged | interrupted | failed | running | waiting
    params: dict[str, Any]
    value: float | None
    run_id: int | None
    metrics: dict[str, float]
    duration: float | None
    note: str = ""
    checkpoint: str | None = None
    retry_of: int | None = None
    baseline: bool = False

    @property
    def test_metrics(self) -> dict[str, float]:
        tests = [(k, v) for k, v in self.metrics.items() if k.startswith("test_")]
        return dict(sorted(tests, key=lambda kv: "acc" not in kv[0]))  # accuracy first

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "test_metrics": self.test_metrics}


@dataclass
class SweepResult:
    """What a sweep found: the best combination, every trial, and where the files are."""

    study: str
    metric: str
    direction: str
    best_params: dict[str, Any] | None
    best_value: float | None
    best_run_id: int | None
    best_trial: int | None
    best_test_metrics: dict[str, float]
    trials: list[TrialRecord]
    paths: dict[str, str]
    target: int
    space: dict[str, str] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def finished(self) -> int:
        return sum(_counts(t) for t in self.trials)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["trials"] = [t.to_dict() for t in self.trials]
        out["finished"] = self.finished
        return out


def _counts(record: TrialRecord) -> bool:
    """Trials that count toward --trials: finished ones. Interrupted trials are retried (the
    retry counts), failures for other reasons are not counted and not retried."""
    return record.state in ("complete", "pruned", "diverged")


def summary_lines(result: SweepResult, top: int = 10) -> list[str]:
    """The end-of-sweep report: the best trials, the best combination, the files."""
    ranked = [t for t in result.trials if t.state in ("complete", "pruned") and t.value is not None]
    sign = -1 if result.direction == "maximize" else 1
    ranked.sort(key=lambda t: (t.state != "complete", sign * t.value))
    lines = []
    others = [t for t in result.trials if t.state not in ("complete", "pruned")]
    counted = f"{result.finished} of {result.target} trials finished"
    if others:
        kinds: dict[str, int] = {}
        for t in others:
            kinds[t.state] = kinds.get(t.state, 0) + 1
        counted += " (" + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) + ")"
    lines.append(f"Sweep '{result.study}': {counted}")
    if ranked:
        names = _short_names(list(result.space) or list(ranked[0].params))
        test_key = next((k for k in ranked[0].metrics if k == "test_acc"), None)
        cols = [("trial", 6), ("state", 9), (result.metric, 10)]
        if test_key:
            cols.append((test_key, 9))
        cols += [(names[f], max(9, len(names[f]))) for f in names]
        cols.append(("time", 8))
        shown = min(top, len(ranked))
        pruned = (
            " (pruned trials last, at the value they stopped at)"
            if any(t.state == "pruned" for t in ranked)
            else ""
        )
        lines.append(
            f"Top {shown} of {len(ranked)} by {result.metric} ({result.direction}, validation)"
            f"{pruned}:"
        )
        lines.append("  " + " ".join(f"{c:>{w}}" for c, w in cols))
        for t in ranked[:top]:
            cells = [f"#{t.number}", t.state, _num(t.value, result.metric)]
            if test_key:
                cells.append(_num(t.metrics.get(test_key), test_key))
            cells += [_fmt(t.params.get(f)) for f in names]
            cells.append(f"{t.duration:.1f}s" if t.duration is not None else "-")
            lines.append("  " + " ".join(f"{c:>{w}}" for c, (_, w) in zip(cells, cols)))
    if result.best_params is not None:
        params = " ".join(f"{k}={_fmt(v)}" for k, v in result.best_params.items())
        lines.append(
            f"Best combination: trial #{result.best_trial} (run {result.best_run_id}): {params}"
        )
        tests = ", ".join(f"{k} {_num(v, k)}" for k, v in result.best_test_metrics.items())
        lines.append(
            f"  {result.metric} {_num(result.best_value, result.metric)} on validation "
            "(the objective)" + (f"; {tests} on test (reported, never tuned on)" if tests else "")
        )
        base = next((t for t in result.trials if t.baseline and t.state == "complete"), None)
        if base is not None and base.number == result.best_trial:
            lines.append("  that is the baseline: no other trial beat the config's own values")
        elif base is not None:
            tests = ", ".join(f"{k} {_num(v, k)}" for k, v in base.test_metrics.items())
            lines.append(
                f"  baseline (trial #{base.number}, the config's own values): {result.metric} "
                f"{_num(base.value, result.metric)}" + (f", {tests}" if tests else "")
            )
    else:
        lines.append("No trial has completed yet, so there is no best combination.")
    paths = result.paths
    lines.append(f"Files: {paths['summary']}" + (f", {paths['best']}" if "best" in paths else ""))
    if "best" in paths:
        lines.append(f"  re-run the best: rnnlab train --config {paths['best']}")
    lines.append(f"  its runs: rnnlab runs --group sweep:{result.study}; study: {paths['storage']}")
    return lines


# --------------------------------------------------------------------------- running


def sweep(
    source: RunConfig | str | Path | dict | None = None,
    *,
    space: dict[str, Any] | list[str] | None = None,
    definition: str | None = None,
    overrides: dict[str, Any] | list[str] | None = None,
    trials: int | None = None,
    timeout: float | None = None,
    sampler: str | None = None,
    prune: bool | None = None,
    metric: str | None = None,
    study: str | None = None,
    storage: str | None = None,
    sampler_seed: int | None = None,
    baseline: bool | None = None,
    data_dir: str | Path | None = None,
    runs_dir: str | Path | None = None,
    verbose: bool = True,
) -> SweepResult:
    """Run (or continue) a sweep and return what it found.

    >>> import rnnlab
    >>> r = rnnlab.sweep("sheet-rnn", space={"train.lr": "log:1e-4:1e-1"}, trials=8)
    >>> r.best_params, r.best_value, r.best_test_metrics

    `source` is a preset name, a TOML path, a dict or a RunConfig; `definition` names a
    shipped sweep instead (src/rnnlab/sweeps/NAME.toml). `space` maps fields to SPEC strings:
    `log:LOW:HIGH`, `float:LOW:HIGH[:STEP]`, `int:LOW:HIGH[:STEP]` or a list `a,b,c`.
    `trials` counts the study's finished trials, those of earlier calls included, so calling
    again with the same `study` continues it. Raises TrainingInterrupted after Ctrl-C (the
    trial's run is saved and is resumed first by the next call).
    """
    plan = plan_sweep(
        source,
        definition=definition,
        space=space,
        overrides=overrides,
        trials=trials,
        timeout=timeout,
        sampler=sampler,
        prune=prune,
        metric=metric,
        study=study,
        storage=storage,
        sampler_seed=sampler_seed,
        baseline=baseline,
        runs_dir=runs_dir,
        data_dir=data_dir,
    )
    return run_sweep(plan, verbose=verbose)


def run_sweep(plan: SweepPlan, *, verbose: bool = True) -> SweepResult:
    """Run the trials a plan still needs, one after another; see `sweep`."""
    optuna = _optuna()
    from rnnlab.results.store import ResultsStore

    try:
        plan.folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RnnlabError(
            f"cannot create the sweep folder {plan.folder} ({exc}); choose a writable --runs-dir"
        ) from None
    store = ResultsStore(plan.runs_dir)
    study = _open_study(optuna, plan)
    existing = len(study.trials)
    _check_same_study(study, plan)
    study.sampler = _make_sampler(optuna, plan, plan.sampler_seed)
    study.pruner = _make_pruner(optuna, plan)

    stale = _recover_stale(optuna, study, store, plan)
    retries = _enqueue_retries(optuna, study)
    if existing == 0 and plan.baseline:
        study.enqueue_trial(plan.baseline, user_attrs={"baseline": True})

    say = _printer(verbose)
    for line in plan.describe(fresh=existing == 0):
        say(line)
    done = _count_done(optuna, study)
    if existing:
        say(f"Continuing: {done} of {plan.trials} trials already finished in this study")
    for number in stale:
        say(f"Trial #{number} was left running by a process that ended; it is retried first")
    for old, checkpoint in retries:
        where = f"from {checkpoint}" if checkpoint else "from the start (no checkpoint was saved)"
        say(f"Trial #{old} was interrupted; its parameters are tried again first, resuming {where}")

    started = time.monotonic()
    ran = 0
    while True:
        done = _count_done(optuna, study)
        # trials other workers are running now count too, so parallel workers sharing a study
        # stop at --trials together instead of each running its own --trials
        running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        if done + len(running) >= plan.trials:
            break
        if ran and plan.timeout is not None and time.monotonic() - started >= plan.timeout:
            say(f"Time limit of {plan.timeout:g} s reached; no new trial is started")
            break
        waiting = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))
        if plan.sampler == "grid" and not waiting and study.sampler.is_exhausted(study):
            break
        if plan.sampler != "grid":
            # A sampler per trial, seeded with the seed plus the number of trials before it:
            # a continued study does not draw its first trials again, "2 trials, then 1 more"
            # draws what "3 trials" draws, and workers sharing a study draw different trials.
            # (A grid keeps one seed: it fixes the order of the grid.)
            study.sampler = _make_sampler(optuna, plan, plan.sampler_seed + len(study.trials))
        best_before = _best_value(optuna, study)
        record = _run_trial(optuna, study, store, plan)
        ran += 1
        better = record.state == "complete" and (
            best_before is None
            or (record.value - best_before) * (1 if plan.direction == "maximize" else -1) > 0
        )
        say(_trial_line(record, _count_done(optuna, study), plan, better))
        _write_files(optuna, study, plan)

    result = _write_files(optuna, study, plan)
    if verbose:
        for line in summary_lines(result):
            say(line)
    return result


def _printer(verbose: bool) -> Any:
    def say(text: str) -> None:
        if verbose:
            print(text, flush=True)

    return say


def _open_study(optuna: Any, plan: SweepPlan) -> Any:
    kwargs: dict[str, Any] = {}
    if plan.storage.startswith("sqlite:"):
        # Workers sharing one SQLite file wait for each other's writes instead of failing with
        # "database is locked" (one study per file keeps that contention small).
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    try:
        storage = optuna.storages.RDBStorage(plan.storage, **kwargs)
        return optuna.create_study(
            storage=storage,
            study_name=plan.study,
            direction=plan.direction,
            load_if_exists=True,
        )
    except ImportError as exc:
        raise RnnlabError(
            f"cannot open the study storage {_masked(plan.storage)}: {exc}; install the "
            "database driver (e.g. pip install psycopg2-binary for postgresql://)"
        ) from None
    except Exception as exc:  # a bad URL, an unreachable server, an unwritable file
        text = " ".join(str(exc).split())[:200]
        raise RnnlabError(
            f"cannot open the study storage {_masked(plan.storage)} ({type(exc).__name__}: "
            f"{text}); check --storage (e.g. sqlite:///path/optuna.db or "
            "postgresql://user:password@host/db)"
        ) from None


def _identity(plan: SweepPlan) -> dict[str, Any]:
    """What makes two calls the same sweep: the base config, the space and the objective."""
    config = {k: v for k, v in plan.config.to_dict().items() if k not in _IGNORED_FOR_IDENTITY}
    return {
        "config": config,
        "space": {k: p.spec for k, p in plan.space.items()},
        "metric": plan.metric,
        "direction": plan.direction,
        "sampler": plan.sampler,
        "grid_seed": plan.sampler_seed if plan.sampler == "grid" else None,
    }


def _check_same_study(study: Any, plan: SweepPlan) -> None:
    """Continuing a study with another config or space would mix incomparable trials."""
    direction = study.direction.name.lower()
    if direction != plan.direction:
        raise ConfigError(
            f"study '{plan.study}' in {_masked(plan.storage)} is set to {direction}, but "
            f"{plan.metric} is to {plan.direction}; start a new study with --study NAME"
        )
    mine = json.loads(json.dumps(_identity(plan)))
    theirs = study.user_attrs.get("rnnlab")
    kept = [t for t in study.trials if t.user_attrs.get("status") != "error"]
    if theirs is not None and kept and theirs != mine:
        differences = _differences(theirs, mine)
        first = differences[0] if differences else "its settings"
        raise ConfigError(
            f"study '{plan.study}' in {_masked(plan.storage)} was run with other settings "
            f"({first}); continue it with the same ones, or start a new study with --study NAME"
        )
    if theirs != mine:
        study.set_user_attr("rnnlab", mine)


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            name = f"{prefix}.{key}" if prefix else str(key)
            if name.startswith("config."):
                name = name[len("config.") :]
            out += _differences(old.get(key), new.get(key), name)
        return out
    return [] if old == new else [f"{prefix}: {old!r} there, {new!r} now"]


def _make_sampler(optuna: Any, plan: SweepPlan, seed: int) -> Any:
    samplers = optuna.samplers
    if plan.sampler == "random":
        return samplers.RandomSampler(seed=seed)
    if plan.sampler == "grid":

        class Grid(samplers.GridSampler):
            # GridSampler ends `study.optimize` from after_trial once the grid is covered;
            # outside optimize (ask/tell) that call raises. The sweep stops by itself.
            def after_trial(self, *args: Any, **kwargs: Any) -> None:
                return None

        return Grid({name: list(p.choices) for name, p in plan.space.items()}, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # multivariate TPE is marked experimental
        # Multivariate: the best learning rate depends on the optimizer (and batch size), so
        # the parameters are modelled jointly. The first 5 trials are drawn at random; a fixed
        # number (not a share of --trials) keeps a continued sweep drawing what one call would.
        return samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=5)


def _make_pruner(optuna: Any, plan: SweepPlan) -> Any:
    if not plan.prune:
        return optuna.pruners.NopPruner()
    # Median rule: stop a trial whose best value so far is worse than the median of finished
    # trials at the same iteration. It waits for 3 finished trials, needs 3 of them to have
    # reached that iteration (with iterations swept, few long trials may have: a median of
    # one is no median), and never judges a trial on its first evaluation alone (too noisy).
    return optuna.pruners.MedianPruner(
        n_startup_trials=3, n_warmup_steps=2 * plan.config.train.eval_every, n_min_trials=3
    )


def _count_done(optuna: Any, study: Any) -> int:
    return sum(_counts(_record(optuna, t)) for t in study.get_trials(deepcopy=False))


def _best_value(optuna: Any, study: Any) -> float | None:
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return study.best_value if complete else None


def _recover_stale(optuna: Any, study: Any, store: Any, plan: SweepPlan) -> list[int]:
    """Trials left RUNNING by a process of this machine that no longer exists (killed, or the
    machine restarted) become interrupted trials, to be retried. Trials running on other
    machines or in live processes are left alone."""
    out = []
    host = socket.gethostname()
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        attrs = t.user_attrs
        if attrs.get("host") != host or _alive(attrs.get("pid")):
            continue
        run = _find_run(store, plan.group, attrs, t.datetime_start)
        trial_id = t._trial_id  # the storage id: a finished process's trial has no Trial object
        storage = study._storage
        checkpoint = _saved_checkpoint(run)
        if run is not None:
            storage.set_trial_user_attr(trial_id, "run_id", run["id"])
            if run["status"] == "running":
                store.update_run(
                    run["id"], status="interrupted", message="the sweep process ended mid-run"
                )
        storage.set_trial_user_attr(trial_id, "checkpoint", checkpoint)
        storage.set_trial_user_attr(trial_id, "status", "interrupted")
        storage.set_trial_user_attr(trial_id, "note", "left running by a process that ended")
        study.tell(t.number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
        out.append(t.number)
    return out


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _enqueue_retries(optuna: Any, study: Any) -> list[tuple[int, str | None]]:
    """Queue each interrupted trial's parameters again (once), to resume its run first."""
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    out = []
    for t in trials:
        attrs = t.user_attrs
        if t.state != optuna.trial.TrialState.FAIL or attrs.get("status") != "interrupted":
            continue
        if t.number in retried:
            continue
        checkpoint = attrs.get("checkpoint")
        checkpoint = checkpoint if checkpoint and Path(checkpoint).is_file() else None
        extra = {"retry_of": t.number, "resume_checkpoint": checkpoint}
        for key in ("run_id", "run_name", "baseline"):
            if key in attrs and (key != "run_id" or checkpoint):
                extra[key] = attrs[key]
        study.enqueue_trial(dict(t.params), user_attrs=extra)
        out.append((t.number, checkpoint))
    return out


def _find_run(store: Any, group: str, attrs: dict[str, Any], since: datetime | None) -> Any:
    """The results-store row of a trial's run: by id once known, else by its unique name."""
    if attrs.get("run_id") is not None:
        return store.get_run(int(attrs["run_id"]))
    name = attrs.get("run_name")
    if not name:
        return None
    earliest = since.timestamp() - 1 if since is not None else 0
    for run in store.list_runs(group=group, name=name):
        # a study deleted and started again reuses trial numbers: only a run made since the
        # trial started is its run
        if run["name"] == name and run["created"] >= earliest:
            return run
    return None


def _saved_checkpoint(run: dict[str, Any] | None) -> str | None:
    # absolute, so that a sweep continued from another folder still finds it
    if run and run.get("checkpoint") and Path(run["checkpoint"]).is_file():
        return str(Path(run["checkpoint"]).resolve())
    return None


class _Watcher:
    """The `on_evaluate` hook of a trial's run: reports the objective to Optuna after every
    evaluation, and stops the run when the pruner says so."""

    def __init__(
        self,
        trial: Any,
        plan: SweepPlan,
        final_iteration: int | None,
        on_first: Any,
    ) -> None:
        self.trial, self.plan = trial, plan
        self.final_iteration = final_iteration
        self.on_first = on_first
        self.row: dict[str, Any] | None = None
        self.missing: list[str] | None = None
        self.pruned_at: int | None = None

    def __call__(self, iteration: int, row: dict[str, Any]) -> bool | None:
        if self.row is None:
            self.on_first()
        self.row = row
        value = row.get(self.plan.metric)
        if value is None:
            self.missing = sorted(k for k in row if k not in ("iteration", "wall_time"))
            return True  # stop: the objective cannot be measured
        self.trial.report(float(value), iteration)
        last = self.final_iteration is not None and iteration >= self.final_iteration
        if self.plan.prune and not last and self.trial.should_prune():
            self.pruned_at = iteration
            return True
        return None


def _run_trial(optuna: Any, study: Any, store: Any, plan: SweepPlan) -> TrialRecord:
    from rnnlab import api
    from rnnlab.training.trainer import TrainingDiverged, TrainingInterrupted

    fail = optuna.trial.TrialState.FAIL
    trial = study.ask()
    trial.set_user_attr("host", socket.gethostname())
    trial.set_user_attr("pid", os.getpid())
    params = {name: p.suggest(trial) for name, p in plan.space.items()}
    attrs = dict(trial.user_attrs)
    run_name = attrs.get("run_name") or f"{plan.study}-t{trial.number:03d}"
    trial.set_user_attr("run_name", run_name)
    resume = attrs.get("resume_checkpoint")
    if resume and not Path(resume).is_file():
        resume = None
    if resume is None and attrs.get("run_id") is not None:
        # the checkpoint is gone since the retry was queued: a new run, found by its name
        attrs.pop("run_id")
        trial.set_user_attr("run_id", None)
    if resume is not None and attrs.get("retry_of") is not None:
        # the pruner judges the whole curve: carry over what the run reported before
        old = study.get_trials(deepcopy=False)[attrs["retry_of"]]
        for step, value in sorted(old.intermediate_values.items()):
            trial.report(value, step)

    started = time.perf_counter()
    cfg = plan.config.copy()
    cfg.name = run_name
    try:
        apply_overrides(cfg, params)
    except ConfigError as exc:
        trial.set_user_attr("status", "error")
        trial.set_user_attr("note", str(exc))
        study.tell(trial, state=fail)
        raise ConfigError(f"trial #{trial.number} ({_params_text(params)}): {exc}") from None
    final = cfg.train.iters if cfg.train.epochs == 0 else None

    def remember_run() -> None:
        run = _find_run(store, plan.group, {"run_name": run_name, **attrs}, trial.datetime_start)
        if run is not None:
            trial.set_user_attr("run_id", run["id"])

    watcher = _Watcher(trial, plan, final, remember_run)
    common = {
        "data_dir": plan.data_dir,
        "runs_dir": plan.runs_dir,
        "group": plan.group,
        "on_evaluate": watcher,
        "verbose": False,
    }
    try:
        if resume is not None:
            result = api.train(resume=resume, **common)
        else:
            base = plan.config.copy()
            base.name = run_name
            result = api.train(base, overrides=params, **common)
    except TrainingDiverged as exc:
        trial.set_user_attr("run_id", exc.run_id)
        trial.set_user_attr("status", "diverged")
        trial.set_user_attr("note", _first_clause(str(exc)))
        trial.set_user_attr("wall_time", time.perf_counter() - started)
        study.tell(trial, state=fail)
        return _record(optuna, study.get_trials(deepcopy=False)[trial.number])
    except (TrainingInterrupted, KeyboardInterrupt):
        run = _find_run(store, plan.group, {**attrs, **trial.user_attrs}, trial.datetime_start)
        checkpoint = _saved_checkpoint(run)
        if run is not None:
            trial.set_user_attr("run_id", run["id"])
            if run["status"] == "running":  # Ctrl-C outside the training loop
                store.update_run(run["id"], status="interrupted", message="interrupted")
        trial.set_user_attr("status", "interrupted")
        trial.set_user_attr("checkpoint", checkpoint)
        trial.set_user_attr("note", "interrupted by the user")
        study.tell(trial, state=fail)
        _write_files(optuna, study, plan)
        saved = f"its run is saved in {checkpoint}" if checkpoint else "no checkpoint was saved"
        raise _interrupted(
            f"sweep '{plan.study}' interrupted in trial #{trial.number} ({_params_text(params)}); "
            f"{saved}; run the same command again to continue: that trial is resumed first"
        ) from None
    except BaseException as exc:
        trial.set_user_attr("status", "error")
        trial.set_user_attr("note", " ".join(str(exc).split())[:300])
        study.tell(trial, state=fail)
        if isinstance(exc, RnnlabError):
            raise type(exc)(f"trial #{trial.number} ({_params_text(params)}): {exc}") from None
        raise

    trial.set_user_attr("run_id", result.run_id)
    trial.set_user_attr("checkpoint", str(Path(result.checkpoint).resolve()))
    trial.set_user_attr("iteration", result.iteration)
    trial.set_user_attr("wall_time", result.wall_time)
    metrics = dict(result.metrics) if result.status != "stopped" else _metrics_of(watcher.row)
    trial.set_user_attr("metrics", metrics)
    if watcher.missing is not None:
        trial.set_user_attr("status", "error")
        trial.set_user_attr("note", f"no metric {plan.metric}")
        study.tell(trial, state=fail)
        raise ConfigError(
            f"--metric {plan.metric}: a {plan.config.task} run reports no such metric; "
            f"available: {', '.join(watcher.missing)} (choose a validation one)"
        )
    if watcher.pruned_at is not None:
        trial.set_user_attr("status", "pruned")
        trial.set_user_attr("note", f"pruned at iteration {watcher.pruned_at}")
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    else:
        trial.set_user_attr("status", "complete")
        study.tell(trial, float(metrics[plan.metric]))
    return _record(optuna, study.get_trials(deepcopy=False)[trial.number])


def _interrupted(message: str) -> RnnlabError:
    from rnnlab.training.trainer import TrainingInterrupted

    return TrainingInterrupted(message)


def _metrics_of(row: dict[str, Any] | None) -> dict[str, float]:
    return {k: v for k, v in (row or {}).items() if k not in ("iteration", "wall_time")}


def _record(optuna: Any, t: Any) -> TrialRecord:
    attrs = t.user_attrs
    states = optuna.trial.TrialState
    state = {
        states.COMPLETE: "complete",
        states.PRUNED: "pruned",
        states.RUNNING: "running",
        states.WAITING: "waiting",
    }.get(t.state)
    if state is None:  # FAIL: why is in the attributes
        why = attrs.get("status")
        state = why if why in ("diverged", "interrupted") else "failed"
    duration = attrs.get("wall_time")
    if duration is None and t.duration is not None:
        duration = t.duration.total_seconds()
    return TrialRecord(
        number=t.number,
        state=state,
        params=dict(t.params),
        value=t.value,
        run_id=attrs.get("run_id"),
        metrics=dict(attrs.get("metrics") or {}),
        duration=duration,
        note=attrs.get("note", ""),
        checkpoint=attrs.get("checkpoint"),
        retry_of=attrs.get("retry_of"),
        baseline=bool(attrs.get("baseline")),
    )


def _write_files(optuna: Any, study: Any, plan: SweepPlan) -> SweepResult:
    """sweep.json (every trial) and best.toml (a config that re-runs the best combination),
    written atomically after every trial, so a killed sweep still leaves both."""
    from rnnlab.config import to_toml
    from rnnlab.training.checkpoint import atomic_write_text

    records = [_record(optuna, t) for t in study.get_trials(deepcopy=False)]
    complete = [r for r in records if r.state == "complete"]
    best = None
    if complete:
        pick = max if plan.direction == "maximize" else min
        best = pick(complete, key=lambda r: r.value)
    summary_path = plan.folder / "sweep.json"
    best_path = plan.folder / "best.toml"
    paths = {
        "folder": str(plan.folder),
        "summary": str(summary_path),
        "storage": _masked(plan.storage),
    }
    if best is not None:
        cfg = plan.config.copy()
        apply_overrides(cfg, best.params)
        cfg.name = f"{plan.study}-best"
        tests = ", ".join(f"{k} {_num(v, k)}" for k, v in best.test_metrics.items())
        header = (
            f"# The best combination of sweep '{plan.study}': trial #{best.number} "
            f"(run {best.run_id}), {plan.metric} {_num(best.value, plan.metric)} on validation"
            + (f", {tests} on test" if tests else "")
            + f".\n# Swept: {_params_text(best.params)}\n"
            f"# Re-run it: rnnlab train --config {best_path}\n"
        )
        atomic_write_text(best_path, header + to_toml(cfg))
        paths["best"] = str(best_path)
    result = SweepResult(
        study=plan.study,
        metric=plan.metric,
        direction=plan.direction,
        best_params=dict(best.params) if best else None,
        best_value=best.value if best else None,
        best_run_id=best.run_id if best else None,
        best_trial=best.number if best else None,
        best_test_metrics=best.test_metrics if best else {},
        trials=records,
        paths=paths,
        target=plan.trials,
        space={k: p.spec for k, p in plan.space.items()},
        notes=list(plan.notes),
    )
    document = {
        **result.to_dict(),
        "sampler": plan.sampler,
        "sampler_seed": plan.sampler_seed,
        "prune": plan.prune,
        "source": plan.source,
        "config": plan.config.to_dict(),
        "written": datetime.now().isoformat(timespec="seconds"),
    }
    atomic_write_text(summary_path, json.dumps(document, indent=2, default=str) + "\n")
    return result


# --------------------------------------------------------------------------- text


def _trial_line(record: TrialRecord, done: int, plan: SweepPlan, best: bool) -> str:
    head = f"Trial {done}/{plan.trials} (#{record.number}"
    if record.retry_of is not None:
        head += f", resumes #{record.retry_of}"
    if record.baseline:
        head += ", baseline"
    parts = [head + "): " + _params_text(record.params, short=True)]
    if record.state == "complete":
        parts.append(f"{plan.metric} {_num(record.value, plan.metric)}")
    elif record.state == "pruned":
        parts.append(f"{record.note} ({plan.metric} {_num(record.value, plan.metric)})")
    else:
        parts.append(f"{record.state}: {record.note}")
    test = record.metrics.get("test_acc")
    if test is not None and record.state in ("complete", "pruned"):
        parts.append(f"test_acc {_num(test, 'test_acc')}")
    if record.duration is not None:
        parts.append(f"{record.duration:.1f} s")
    if best:
        parts.append("best so far")
    return " | ".join(parts)


def _params_text(params: dict[str, Any], short: bool = False) -> str:
    names = _short_names(list(params)) if short else {k: k for k in params}
    return " ".join(f"{names[k]}={_fmt(v)}" for k, v in params.items())


def _short_names(fields: list[str]) -> dict[str, str]:
    """train.lr -> lr, unless two swept fields share the last part."""
    last = [f.split(".")[-1] for f in fields]
    return {f: (s if last.count(s) == 1 else f) for f, s in zip(fields, last)}


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _num(value: float | None, metric: str = "") -> str:
    """Accuracies (percent) with 2 decimals, losses and the like with 4."""
    if value is None:
        return "-"
    return f"{value:.2f}" if "acc" in metric or "exact" in metric else f"{value:.4f}"


def _first_clause(text: str) -> str:
    return text.split(";")[0]


def _masked(url: str) -> str:
    """A storage URL without its password, for printing and for sweep.json."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def list_definitions() -> list[tuple[str, str]]:
    """(name, description) of every shipped sweep."""
    return [(n, load_definition(n).get("description", "")) for n in definition_names()]


__all__ = [
    "Param",
    "SweepPlan",
    "SweepResult",
    "TrialRecord",
    "definition_names",
    "list_definitions",
    "load_definition",
    "metric_direction",
    "parse_space",
    "plan_sweep",
    "run_sweep",
    "summary_lines",
    "sweep",
]
