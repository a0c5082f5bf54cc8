"""The plan: a sweep resolved and validated (config, space, objective, study) before it runs."""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnlab.arguments import check_arguments, check_source
from rnnlab.config import RunConfig, apply_overrides, field_value, names_a_file
from rnnlab.errors import ConfigError
from rnnlab.experiments.sweep.checks import check_study_files
from rnnlab.experiments.sweep.definitions import load_definition
from rnnlab.experiments.sweep.space import (
    Param,
    example_values,
    parse_space,
    space_dict,
    space_size,
    sweepable_type,
)
from rnnlab.experiments.sweep.text import masked_url, value_text

SAMPLERS = ("tpe", "random", "grid")
DEFAULT_TRIALS = 20
CLASSIFY_VALIDATION = 5000  # held-out training images when a classify config has none
# NumPy's random generators, and so Optuna's samplers, take seeds 0..2**32-1 only.
SAMPLER_SEEDS = 2**32
# The data an objective can be measured on, as a task declares it (Task.metric_splits).
SPLITS = ("validation", "test", "training")


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
    split: str = "validation"  # the data the objective is measured on (one of SPLITS)
    storage_given: bool = False  # --storage named; else the study file under RUNS/sweeps

    @property
    def group(self) -> str:
        return f"sweep:{self.study}"

    def to_dict(self, fresh: bool = True) -> dict[str, Any]:
        """The plan as data (--dry-run --json): what describe() prints, field by field."""
        return {
            "study": self.study,
            "source": self.source,
            "trials": self.trials,
            "timeout": self.timeout,
            "sampler": self.sampler,
            "sampler_seed": self.sampler_seed,
            "prune": self.prune,
            "metric": self.metric,
            "direction": self.direction,
            "split": self.split,
            "objective": self.objective,
            "space": {name: p.spec for name, p in self.space.items()},
            "space_size": space_size(self.space),
            "baseline": self.baseline if fresh else None,
            "config": self.config.to_dict(),
            "storage": masked_url(self.storage),
            "folder": str(self.folder),
            "runs_dir": str(self.runs_dir),
            "notes": list(self.notes),
        }

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
        size = space_size(self.space)
        if self.sampler != "grid" and size is not None and size < self.trials:
            lines.append(
                f"Space: {size} combination{'s' if size > 1 else ''}, fewer than {self.trials} "
                "trials: a trial that repeats one reuses its result, and the sweep stops once "
                "each has been tried (--sampler grid tries each once)"
            )
        lines.append(f"Study: {masked_url(self.storage)}; files in {self.folder}")
        return lines


def _objective(cfg: RunConfig, task_cls: Any, metric: str | None) -> tuple[str, str, str, str]:
    """(metric, direction, split, how it is measured) of a sweep, its split read from what the
    task declares (Task.metric_split): a sweep tunes on validation data whenever the task has
    any, and says plainly when it has none and the objective is a test or training figure."""
    names = task_cls.metric_names(cfg)
    held_out = [n for n in names if task_cls.metric_split(cfg, n) == "validation"]
    if metric:
        metric = metric.strip()
        task_cls.check_metric(cfg, metric)
    else:
        metric = task_cls.primary_metric
        if task_cls.metric_split(cfg, metric) != "validation" and held_out:
            # the task picks checkpoints on test (classify: test_acc); its validation
            # counterpart (val_acc) is the sweep's objective, or else the first held-out metric
            twin = next((n for n in held_out if n.split("_")[-1] == metric.split("_")[-1]), None)
            metric = twin or held_out[0]
    split = task_cls.metric_split(cfg, metric)
    if split not in SPLITS:  # a task's declaration, checked here where it is relied on
        raise ConfigError(f"the {cfg.task} task declares {metric} on '{split}' data")
    suggestion = (
        "val_acc or val_loss" if cfg.task == "classify" else f"one of: {', '.join(held_out)}"
    )
    if split == "test" and held_out:
        raise ConfigError(
            f"--metric {metric}: a sweep tunes on validation, never on test (test figures "
            f"are reported for every trial, not chosen on); use {suggestion}"
        )
    if split == "training" and held_out:
        raise ConfigError(
            f"--metric {metric} is measured on the training data, which rewards fitting it "
            f"rather than generalizing; a sweep tunes on validation: use {suggestion}"
        )
    direction = metric_direction(metric)
    if metric == task_cls.primary_metric:
        direction = "maximize" if task_cls.higher_is_better else "minimize"
    tests = [n for n in names if task_cls.metric_split(cfg, n) == "test" and n != metric]
    reported = f"; {', '.join(tests)} on test reported, never tuned on" if tests else ""
    if split == "validation" and cfg.task == "classify":
        objective = (
            f"measured on the {cfg.data.validation} validation images at the end of each "
            "trial; test accuracy is reported, never tuned on"
        )
    elif split == "validation":
        objective = f"measured on the validation data at the end of each trial{reported}"
    elif split == "test":
        objective = (
            f"measured on the test set at the end of each trial: the {cfg.task} task has no "
            "validation data, so the sweep tunes on test and the best value is an optimistic "
            "estimate (confirm it on data the sweep never saw)"
        )
    else:
        objective = (
            f"measured on the training data at the end of each trial: the {cfg.task} task "
            "has no validation data, so this is how well a combination fits, not how it "
            "generalizes"
        )
    return metric, direction, split, objective


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

    check_source(source)
    check_arguments(
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
    elif isinstance(source, Path) or names_a_file(source):  # a Path is always a file
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

    metric, direction, split, objective = _objective(
        cfg, task_cls, metric or defaults.get("metric")
    )

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
    trials = DEFAULT_TRIALS if trials is None else int(trials)
    if trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {trials}")
    timeout = timeout if timeout is not None else defaults.get("timeout")
    # NaN passes `<= 0` and every later comparison: it would silently mean "no time limit"
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise ConfigError(
            f"--timeout must be a positive, finite number of seconds, got {timeout}; "
            "leave it out for no time limit"
        )

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
                    "--baseline (--no-baseline for a sweep file's baseline = true)"
                )
            baseline_params[p.field] = value

    name = study or default_study
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ConfigError(
            f"study name '{name}' may hold only ASCII letters, digits, '.', '_' and '-' "
            "(it names a folder); choose another with --study NAME"
        )
    runs_path = Path(runs_dir) if runs_dir else default_runs_dir()
    folder = runs_path / "sweeps" / name
    url = storage or f"sqlite:///{(folder / 'optuna.db').resolve()}"
    check_study_files(folder, url, storage_given=bool(storage))
    seed = _sampler_seed(sampler_seed, defaults, cfg.seed, notes)
    return SweepPlan(
        study=name,
        source=source_text,
        config=cfg,
        space=params,
        trials=int(trials),
        timeout=float(timeout) if timeout is not None else None,
        sampler=sampler,
        sampler_seed=seed,
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
        split=split,
        storage_given=bool(storage),
    )


def _sampler_seed(
    given: int | None, defaults: dict[str, Any], config_seed: int, notes: list[str]
) -> int:
    """The sampler's seed, in the 0..2**32-1 that NumPy (and so Optuna) takes: a seed given
    (--sampler-seed, a sweep file's sampler_seed) must be in it; the config's seed, by
    default, may be up to 2**63-1 (torch takes it) and is used mod 2**32, so it stays the same
    sweep for the same config and a large training seed is no error."""
    if given is None and "sampler_seed" in defaults:
        given = defaults["sampler_seed"]
    if given is not None:
        if not 0 <= given < SAMPLER_SEEDS:
            raise ConfigError(
                f"--sampler-seed must be between 0 and 2**32-1 ({SAMPLER_SEEDS - 1}), the seeds "
                f"Optuna's samplers take; got {given}"
            )
        return int(given)
    seed = config_seed % SAMPLER_SEEDS
    if seed != config_seed:
        notes.append(
            f"Sampler seed: the config's seed {config_seed} is beyond the 2**32 seeds Optuna's "
            f"samplers take, so the sampler is seeded with it mod 2**32: {seed}"
        )
    return seed
