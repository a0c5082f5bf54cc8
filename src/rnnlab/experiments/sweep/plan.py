"""The plan: a sweep resolved and validated (config, space, objective, study) before it runs."""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnlab.config import RunConfig, apply_overrides, field_value, names_a_file
from rnnlab.errors import ConfigError
from rnnlab.experiments.sweep.definitions import load_definition
from rnnlab.experiments.sweep.space import (
    Param,
    example_values,
    parse_space,
    space_dict,
    sweepable_type,
)
from rnnlab.experiments.sweep.text import masked_url, value_text

SAMPLERS = ("tpe", "random", "grid")
DEFAULT_TRIALS = 20
CLASSIFY_VALIDATION = 5000  # held-out training images when a classify config has none


def metric_direction(name: str) -> str:
    """'minimize' for losses, perplexities, bits or nats per character; else 'maximize'."""
    from rnnlab.tasks.base import metric_higher_is_better

    return "maximize" if metric_higher_is_better(name) else "minimize"


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
                + " ".join(f"{k}={value_text(v)}" for k, v in self.baseline.items())
            )
        lines += self.notes
        lines.append(f"Study: {masked_url(self.storage)}; files in {self.folder}")
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
        default_study = Path(definition).stem if names_a_file(definition) else definition
    elif source is None:
        raise ConfigError(
            "say what to sweep: --preset NAME, --config FILE.toml or --sweep NAME "
            "(rnnlab sweep --list shows the shipped sweeps)"
        )
    elif isinstance(source, RunConfig | dict):
        source_text = "the given config"
        default_study = None
    elif names_a_file(source):
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
        task_cls.check_metric(cfg, metric)
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
    params = parse_space({**(defaults.get("space") or {}), **space_dict(space or {})}, cfg)

    sampler = (sampler or defaults.get("sampler") or "tpe").lower()
    if sampler not in SAMPLERS:
        raise ConfigError(f"unknown sampler '{sampler}'; choose one of: {', '.join(SAMPLERS)}")
    trials = trials if trials is not None else defaults.get("trials")
    if sampler == "grid":
        ranges = [p.field for p in params.values() if p.kind != "choice"]
        if ranges:
            raise ConfigError(
                f"--sampler grid enumerates lists of values, but {ranges[0]} is a range; give "
                f"it as a list (e.g. {ranges[0]}={example_values(sweepable_type(cfg, ranges[0]))}) "
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
            value = field_value(cfg, p.field)
            if not p.contains(value):
                raise ConfigError(
                    f"--baseline tries the config's own values first, but its {p.field}="
                    f"{value_text(value)} is outside {p.describe()}; widen the range or drop "
                    "--baseline"
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
