"""Planning a comparison: every run of the grid x seeds with a validated config, checked
against the store, before anything is trained."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnlab.config import RunConfig, check_overrides, override_items
from rnnlab.errors import ConfigError
from rnnlab.experiments.compare.axes import normalize_grid, normalize_seeds, positive_jobs
from rnnlab.experiments.compare.stored import (
    canonical,
    check_same_settings,
    configuration_key,
    done_or_resumable,
)
from rnnlab.experiments.compare.studies import Study, load_study
from rnnlab.experiments.ranges import ranges_text

PRESET_AXIS = "preset"  # a grid axis over whole presets (or config files) instead of one field


@dataclass
class PlannedRun:
    cell: dict[str, Any]  # axis -> value: which configuration of the grid
    seed: int
    config: RunConfig
    base: str | None = None  # the preset or config file the run's config starts from

    @property
    def cell_label(self) -> str:
        return cell_label(self.cell)


def cell_label(cell: dict[str, Any]) -> str:
    return " ".join(f"{short_field(axis)}={value}" for axis, value in cell.items()) or "-"


def short_field(axis: str) -> str:
    """ "model.layers" -> "layers": how an axis is named in labels and table headers."""
    return axis.rsplit(".", 1)[-1]


def plan_runs(
    name: str,
    source: str | None,
    grid: dict[str, list[Any]],
    seeds: list[int] | None,
    overrides: list[tuple[str, Any]],
) -> list[PlannedRun]:
    """Every run of the comparison, each with a validated config; bad values fail here,
    before any training starts."""
    from rnnlab.api import make_config

    axes = list(grid)
    for key, _ in overrides:
        if key in grid:
            raise ConfigError(f"'{key}' is both a grid axis and a fixed setting; give it once")
    if seeds is not None and any(key == "seed" for key, _ in overrides):
        raise ConfigError(
            "give either --seed or --seeds, not both (in Python: a seed in overrides, or seeds=)"
        )
    if "seed" in grid:
        raise ConfigError("vary the seed with --seeds (seeds= in Python), not as a grid axis")
    if source is None and PRESET_AXIS not in grid:
        raise ConfigError(
            "say what to compare: a study name, --preset NAME / --config FILE.toml, "
            "or a grid over presets (--grid preset=sheet-rnn,sheet-lstm)"
        )
    planned = []
    seen: dict[str, dict[str, Any]] = {}  # a configuration -> the grid point that gave it
    for values in itertools.product(*(grid[a] for a in axes)):
        cell = dict(zip(axes, values))
        base = cell.get(PRESET_AXIS, source)
        _check_not_a_folder(base, PRESET_AXIS in cell)
        fields = [(a, v) for a, v in cell.items() if a != PRESET_AXIS]
        try:
            cfg = make_config(base, dict(overrides + fields))
        except ConfigError as exc:
            where = f" (grid point {cell_label(cell)})" if cell else ""
            raise ConfigError(f"{exc}{where}") from None
        # "4,04" or two presets that are one recipe: the same runs trained twice, counted
        # as two configurations (without --seeds each keeps its own seed, which then counts)
        key = canonical({**cfg.to_dict(), "name": None, **({"seed": None} if seeds else {})})
        if key in seen:
            raise ConfigError(
                f"grid points {cell_label(seen[key])} and {cell_label(cell)} are the same "
                "configuration; give each value once"
            )
        seen[key] = cell
        cfg.name = _run_name(name, cell)
        for seed in seeds if seeds is not None else [cfg.seed]:
            run_cfg = cfg.copy()
            run_cfg.seed = seed
            planned.append(PlannedRun(cell, seed, run_cfg, describe_source(base)))
    _check_one_task(planned)
    return planned


def _default_name(source: Any) -> str:
    """A comparison's name when none is given: the preset's, the file's or the config's."""
    if isinstance(source, str | Path):
        return Path(source).stem
    if isinstance(source, RunConfig):
        return source.name or "compare"
    if isinstance(source, dict):
        return str(source.get("name") or "compare")
    return "compare"


def describe_source(source: Any) -> str | None:
    if source is None or isinstance(source, str | Path):
        return None if source is None else str(source)
    return "the given config"


def _check_not_a_folder(base: Any, on_axis: bool) -> None:
    """A folder given as a preset would otherwise be reported as an unknown preset name."""
    from rnnlab.config import preset_names

    if not isinstance(base, str | Path) or str(base) in preset_names():
        return  # a config in hand, or a preset
    if not Path(base).is_dir():
        return
    given = f"--grid preset={base}" if on_axis else f"{base}"
    raise ConfigError(
        f"{given} is a folder, not a preset or config file; give a preset name "
        "(e.g. hihell) or a .toml config file"
    )


def _check_one_task(planned: list[PlannedRun]) -> None:
    """One table compares one metric, which only runs of one task share: a grid over presets
    of several tasks is refused here, naming them, before any metric is looked up."""
    tasks: dict[str, list[str]] = {}
    for run in planned:
        labels = tasks.setdefault(run.config.task, [])
        if run.cell_label not in labels:
            labels.append(run.cell_label)
    if len(tasks) > 1:
        which = "; ".join(f"{task}: {', '.join(labels)}" for task, labels in tasks.items())
        raise ConfigError(
            f"the grid mixes tasks ({which}); a comparison's runs share one task and its "
            "metric, so compare each task separately"
        )


def _run_name(name: str, cell: dict[str, Any]) -> str:
    if not cell:
        return name
    return f"{name}[{','.join(f'{short_field(a)}={v}' for a, v in cell.items())}]"


# --------------------------------------------------------------------------- running


@dataclass
class ComparisonPlan:
    """A comparison resolved and validated, nothing trained: what `compare --dry-run` shows."""

    name: str
    source: str | None
    axes: list[str]
    seeds: list[int] | None  # None: each configuration keeps its own config's seed
    runs: list[PlannedRun]
    metric: str
    higher_is_better: bool
    runs_dir: Path
    jobs: int = 1  # runs trained at once (it set each run's threads)
    stored: list[dict[str, Any]] = field(default_factory=list)  # the group's saved runs
    data_dir: str | Path | None = None  # where a text task's vocabulary (its size) is read

    @property
    def folder(self) -> Path:
        """Where the comparison's tables go: RUNS/compare/NAME/."""
        from rnnlab.results.records import slug

        return self.runs_dir / "compare" / slug(self.name)

    def read_store(self) -> None:
        """Read the runs the store holds in this comparison's group, and refuse a name saved
        with other settings. `compare` reads them again once it holds the comparison's lock:
        another process may have trained them, or saved other settings, since the plan."""
        from rnnlab.results.store import DB_NAME, ResultsStore

        if (self.runs_dir / DB_NAME).exists():  # read what is there; a plan changes no store
            store = ResultsStore(self.runs_dir, readonly=True)
            self.stored = store.list_runs(group=f"compare:{self.name}")
        check_same_settings(self.folder, self.name, self.runs, self.stored)

    def training_by(self) -> str | None:
        """'host:pid' of a process training this comparison now, if any (its lock file)."""
        from rnnlab.experiments.compare.lock import holder

        return holder(self.folder)

    def status(self) -> tuple[int, int, int]:
        """How many planned runs are done, resumable and not started, by the store."""
        found = [
            done_or_resumable(self.stored, run.config.to_dict(), self.runs_dir) for run in self.runs
        ]
        done = sum(row is not None for row, _ in found)
        resumable = sum(checkpoint is not None for _, checkpoint in found)
        return done, resumable, len(self.runs) - done - resumable

    @property
    def configurations(self) -> int:
        return len(self.runs) // (len(self.seeds) if self.seeds else 1)

    def notes(self) -> list[str]:
        """The notes the runs' settings bring (train says them at a run's start; compare's
        runs train quietly), each once, naming the configurations it concerns unless all."""
        from rnnlab.tasks import get_task_class

        concerns: dict[str, list[str]] = {}
        for run in self.runs:
            for note in get_task_class(run.config.task).config_notes(run.config):
                labels = concerns.setdefault(note, [])
                if run.cell_label not in labels:
                    labels.append(run.cell_label)
        every = len({run.cell_label for run in self.runs})
        return [
            note if len(labels) == every else f"{note} [{', '.join(labels)}]"
            for note, labels in concerns.items()
        ]

    def summary(self) -> str:
        n_seeds = len(self.seeds) if self.seeds is not None else 1
        return (
            f"Comparison '{self.name}': {plural(len(self.runs), 'run')} "
            f"({plural(self.configurations, 'configuration')} x {plural(n_seeds, 'seed')})"
        )

    def to_dict(self) -> dict[str, Any]:
        """The plan as plain data: one entry per configuration, with its seeds and config."""
        parameters = parameter_counts(self.runs, self.data_dir)
        configurations: dict[str, dict[str, Any]] = {}
        for run, count in zip(self.runs, parameters):
            entry = configurations.setdefault(
                run.cell_label,
                {"cell": run.cell, "seeds": [], "parameters": count or None, "base": run.base},
            )
            entry["seeds"].append(run.seed)
            entry.setdefault("config", {**run.config.to_dict(), "seed": None})
        done, resumable, new = self.status()
        return {
            "name": self.name,
            "source": self.source,
            "metric": self.metric,
            "axes": self.axes,
            "runs": len(self.runs),
            "done": done,
            "to_resume": resumable,
            "to_train": new,
            "folder": str(self.folder),
            "training_by": self.training_by(),
            "configurations": list(configurations.values()),
            "notes": self.notes(),
        }


def plan_comparison(
    source: RunConfig | str | Path | dict | None = None,
    *,
    study: str | None = None,
    grid: dict[str, list[Any] | str] | list[str] | str | None = None,
    seeds: list[int] | range | str | int | None = None,
    overrides: dict[str, Any] | list[str] | None = None,
    name: str | None = None,
    metric: str | None = None,
    jobs: int = 1,
    data_dir: str | Path | None = None,
    runs_dir: str | Path | None = None,
) -> ComparisonPlan:
    """Resolve and validate a comparison without training or writing anything: every run's
    config (with the threads `jobs` gives it), the metric, the name, and which runs the
    store already holds; a saved comparison of this name with other settings is refused
    here, as `compare` would refuse it. Takes `compare`'s arguments but `verbose`; no data
    is read but a text task's vocabulary, which sizes its model, and nothing is written."""
    from rnnlab.arguments import check_arguments, check_source
    from rnnlab.data.paths import default_runs_dir
    from rnnlab.results.store import check_runs_folder
    from rnnlab.tasks import get_task_class
    from rnnlab.tasks.base import metric_higher_is_better

    check_source(source, "source")
    check_arguments(
        study=study, overrides=overrides, name=name, metric=metric, data_dir=data_dir,
        runs_dir=runs_dir,
    )  # fmt: skip
    jobs = positive_jobs(jobs)
    if study and source is not None:
        # the study's grid would be trained on another base under the study's own name,
        # which `rnnlab compare STUDY` then refuses as other settings
        given = source if isinstance(source, str | Path) else "the given config"
        raise ConfigError(
            f"a study names its own preset; drop --preset/--config {given} (the source "
            "argument in Python), or give no study and set the grid and seeds yourself"
        )

    spec = load_study(study) if study else Study(name="")
    axes = dict(spec.grid)
    axes.update(normalize_grid(grid))
    seed_list = normalize_seeds(seeds)
    given = override_items(overrides)
    check_overrides(given)
    named = [v for k, v in given if k == "name"]
    if named:  # plan_runs names every run NAME[grid point]: this name would be dropped unsaid
        raise ConfigError(
            f"a comparison names its runs after itself (NAME[grid point]); give --name "
            f"{named[0]} (name= in Python) instead of setting name as an override"
        )
    one_seed = [v for k, v in given if k == "seed"]
    if seed_list is None and spec.seeds and one_seed:
        # the user gave no seeds: the study did, so "not both" would blame the wrong flag
        raise ConfigError(
            f"study '{spec.name}' repeats every configuration over its seeds "
            f"{ranges_text(spec.seeds)}; to train seed {one_seed[0]} alone give "
            f"--seeds {one_seed[0]}, not --seed"
        )
    if seed_list is None and spec.seeds:
        seed_list = spec.seeds
    if source is not None and PRESET_AXIS in axes:  # the axis would silently replace it
        raise ConfigError(
            f"--preset/--config {source} and --grid preset=... both say what to train; put "
            f"it on the axis instead: --grid preset={source},..."
        )
    if source is None:  # a Path given stays one: a config file by any name (make_config)
        source = spec.source
    name = name or spec.name or _default_name(source)
    # a study's fixed settings give way to an axis given now; settings given now may not
    study_fixed = [(k, v) for k, v in override_items(spec.overrides) if k not in axes]
    planned = plan_runs(name, source, axes, seed_list, study_fixed + given)
    task_cls = get_task_class(planned[0].config.task)
    metric = metric or task_cls.primary_metric
    for run in planned:  # a typo would otherwise show only after the first run has trained
        get_task_class(run.config.task).check_metric(run.config, metric)
    share_threads(planned, jobs)  # before the settings check: the threads are part of a run
    runs_path = Path(runs_dir) if runs_dir else default_runs_dir()
    check_runs_folder(runs_path)
    plan = ComparisonPlan(
        name=name,
        source=describe_source(source),
        axes=list(axes),
        seeds=seed_list,
        runs=planned,
        metric=metric,
        higher_is_better=metric_higher_is_better(metric, task_cls.higher_is_better),
        runs_dir=runs_path,
        jobs=jobs,
        data_dir=data_dir,
    )
    plan.read_store()
    return plan


def share_threads(planned: list[PlannedRun], jobs: int) -> None:
    """Give runs trained `jobs` at a time their share of the cores, unless a config sets its
    own. The thread count changes float rounding and so the run itself: it goes into each
    config, where the store and a later match see it."""
    if jobs > 1:
        share = max(1, (os.cpu_count() or 1) // jobs)
        for run in planned:
            run.config.threads = run.config.threads or share


def parameter_counts(planned: list[PlannedRun], data_dir: str | Path | None) -> list[int]:
    """Each run's model size (0 where the data that sizes it is not at hand), built once per
    configuration."""
    from rnnlab.tasks.sizing import parameter_count

    counts: dict[str, int] = {}
    out = []
    for run in planned:
        key = configuration_key(run.config.to_dict())
        if key not in counts:
            counts[key] = parameter_count(run.config, data_dir) or 0
        out.append(counts[key])
    return out


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
