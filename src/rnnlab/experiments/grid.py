"""Comparisons: a grid of configurations x seeds, trained and summarised in one table.

A comparison has a name, and its runs are filed in the results store under the group
"compare:NAME". The store, not a side file, says what is done: a planned run whose exact
config is already completed there is not trained again, one that was interrupted (Ctrl-C,
a killed process) resumes from its checkpoint, and a changed config (more iterations, say)
is a new run. So re-running the command that was stopped finishes the grid, and re-running
a finished one only rebuilds its tables.
"""

from __future__ import annotations

import itertools
import json
import math
import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnlab.config import (
    MAX_INT,
    RunConfig,
    _parse_toml,
    check_overrides,
    flatten,
    from_dict,
    override_items,
    shipped_names,
    shipped_text,
)
from rnnlab.errors import (
    ConfigError,
    RnnlabError,
    TrainingDiverged,
    TrainingInterrupted,
)
from rnnlab.experiments.ranges import MAX_VALUES, TooManyValues, few, int_ranges, ranges_text
from rnnlab.training.progress import hms

PRESET_AXIS = "preset"  # a grid axis over whole presets (or config files) instead of one field


class ComparisonInterrupted(TrainingInterrupted):
    """Ctrl-C during a comparison: finished runs are kept, the current ones were saved."""


# --------------------------------------------------------------------------- the spec


@dataclass
class Study:
    """A shipped comparison: a base preset, fixed settings, grid axes and seeds."""

    name: str
    description: str = ""
    source: str | None = None
    grid: dict[str, list[Any]] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)


def study_names() -> list[str]:
    return shipped_names("studies")


def load_study(name: str) -> Study:
    text = shipped_text("studies", name)
    if text is None:
        raise ConfigError(f"unknown study '{name}'; available studies: {', '.join(study_names())}")
    values = _parse_toml(text, f"study '{name}'")
    known = {"description", "preset", "seeds", "set", "grid"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"study '{name}' has an unknown key '{unknown[0]}'")
    grid = flatten(values.get("grid", {}))
    for axis, choices in grid.items():
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"study '{name}': grid axis '{axis}' needs a non-empty list")
    return Study(
        name=name,
        description=values.get("description", ""),
        source=values.get("preset"),
        grid=grid,
        seeds=[int(s) for s in values.get("seeds", [])],
        overrides=flatten(values.get("set", {})),
    )


def parse_axis(text: str) -> tuple[str, list[str]]:
    """ "model.layers=1,2,3" -> ("model.layers", ["1", "2", "3"])."""
    key, sep, values = text.partition("=")
    if not sep or not key.strip() or not values.strip():
        raise ConfigError(f"--grid expects FIELD=V1,V2,..., e.g. model.layers=1,2,3; got '{text}'")
    key = key.strip()
    return key, check_choices(key, [v.strip() for v in values.split(",")], f"--grid {text}")


def check_choices(axis: str, choices: list[Any], given: str) -> list[Any]:
    """An axis's values as given, refused when one is empty ("4,,8" would silently lose a
    value) or given twice (it would train the same configuration twice)."""
    if not choices:
        raise ConfigError(f"{given} has no values; give at least one, e.g. {axis}=a,b")
    kept = [c for c in choices if c is not None and c != ""]
    if len(kept) != len(choices):
        fix = f"{axis}={','.join(map(str, kept))}" if kept else f"{axis}=a,b"
        raise ConfigError(
            f"{given} has an empty value (two commas in a row, or one at an end); "
            f"give only values: {fix}"
        )
    seen: dict[str, Any] = {}
    for c in kept:
        if str(c) in seen:
            unique = ",".join(seen)
            raise ConfigError(f"{given} gives {c} twice; give each value once: {axis}={unique}")
        seen[str(c)] = c
    return kept


def normalize_grid(grid: Any) -> dict[str, list[Any]]:
    """The Python API's grid in any of its forms - {"model.hidden": [8, 16]}, the CLI's
    {"model.hidden": "8,16"} or ["model.hidden=8,16"] - as axis -> list of values. Checked
    here, since a str value would otherwise be iterated character by character."""
    if grid is None:
        return {}
    if isinstance(grid, str):
        grid = [grid]
    if isinstance(grid, (list, tuple)):
        if not all(isinstance(text, str) for text in grid):
            raise ConfigError(
                "grid as a list takes 'FIELD=V1,V2' strings, e.g. ['model.hidden=8,16']; "
                "or give a dict: {'model.hidden': [8, 16]}"
            )
        return parse_axes(list(grid))
    if not isinstance(grid, dict):
        raise ConfigError(
            f"grid must be a dict such as {{'model.hidden': [8, 16]}}, got {type(grid).__name__}"
        )
    axes: dict[str, list[Any]] = {}
    for axis, values in grid.items():
        if not isinstance(axis, str) or not axis.strip():
            raise ConfigError(
                f"grid keys are config fields such as 'model.hidden' (or 'preset'); got {axis!r}"
            )
        given = f"grid['{axis}']"
        if isinstance(values, str):  # the CLI's form: "8,16"
            choices: list[Any] = [v.strip() for v in values.split(",")]
        elif isinstance(values, (list, tuple, range)):
            choices = [v.strip() if isinstance(v, str) else v for v in values]
        elif isinstance(values, (int, float)):  # one value: an axis of one point
            choices = [values]
        else:
            raise ConfigError(
                f"{given} must be a list of values such as [8, 16] or a string '8,16'; "
                f"got {type(values).__name__}"
            )
        axes[axis.strip()] = check_choices(axis.strip(), choices, given)
    return axes


def parse_seeds(text: str) -> list[int]:
    """ "0-4" -> [0, 1, 2, 3, 4]; "1,5,9" -> [1, 5, 9]; "7" -> [7]."""
    try:
        seeds = int_ranges(text)
    except TooManyValues as exc:
        raise ConfigError(f"--seeds {exc}") from None
    except ValueError:
        raise ConfigError(
            f"--seeds expects a range or a list, e.g. 0-9 or 1,5,9; got '{text}'"
        ) from None
    _check_seeds(seeds, f"--seeds '{text}'")
    return seeds


def normalize_seeds(seeds: Any) -> list[int] | None:
    """The Python API's seeds - "0-4", [0, 1], range(5) or one int - as a checked list;
    None when not given. The same checks as the CLI's --seeds, so both refuse alike."""
    if seeds is None:
        return None
    if isinstance(seeds, str):
        return parse_seeds(seeds)
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = [seeds]
    if not isinstance(seeds, (list, tuple, range)):
        raise ConfigError(
            "seeds must be a list of integers, a string such as '0-4' or '1,5,9', or one "
            f"integer; got {type(seeds).__name__}"
        )
    if len(seeds) > MAX_VALUES:  # as --seeds 0-99999999: a typo, and one run per seed
        raise ConfigError(f"seeds names more than {MAX_VALUES:,} seeds; give fewer")
    out = []
    for s in seeds:
        if isinstance(s, str) and s.strip().isdigit():
            s = int(s)
        if isinstance(s, bool) or not isinstance(s, int):
            raise ConfigError(f"seeds must be integers, got {s!r} in {list(seeds)!r}")
        out.append(s)
    if not out:
        raise ConfigError(
            "seeds is empty; give at least one seed, e.g. seeds=[0] or seeds='0-4' "
            "(or leave it out to use the config's seed)"
        )
    _check_seeds(out, f"seeds {out!r}")
    return out


def _check_seeds(seeds: list[int], given: str) -> None:
    bad = [s for s in seeds if not 0 <= s <= MAX_INT]  # the config's own seed rule
    if bad:
        raise ConfigError(f"{given}: a seed must be between 0 and 2**63-1, got {bad[0]}")
    seen: set[int] = set()
    for s in seeds:
        if s in seen:
            raise ConfigError(
                f"{'--seeds' if given.startswith('--') else 'seeds'} names a seed twice "
                f"({s} in {given.split(' ', 1)[1]}); give each seed once"
            )
        seen.add(s)


def positive_jobs(jobs: Any) -> int:
    """--jobs / jobs=: a whole number of processes, 1 or more (1.5 or "2" are refused, not
    truncated or compared as text)."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"--jobs must be a positive integer, got {jobs!r}")
    return jobs


def parse_axes(texts: list[str]) -> dict[str, list[str]]:
    """Several --grid options; a field given twice is refused rather than silently replaced."""
    axes: dict[str, list[str]] = {}
    for text in texts:
        key, choices = parse_axis(text)
        if key in axes:
            raise ConfigError(
                f"--grid {key} is given twice; put all its values in one: {key}=a,b,c"
            )
        axes[key] = choices
    return axes


# --------------------------------------------------------------------------- planning


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
        raise ConfigError("give either --seed or --seeds, not both")
    if "seed" in grid:
        raise ConfigError("vary the seed with --seeds, not as a grid axis")
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
        key = _canonical({**cfg.to_dict(), "name": None, **({"seed": None} if seeds else {})})
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
            planned.append(PlannedRun(cell, seed, run_cfg, _describe_source(base)))
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


def _describe_source(source: Any) -> str | None:
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
class RunOutcome:
    """What one planned run gave: from this invocation or found done in the store."""

    cell: dict[str, Any]
    seed: int
    status: str  # completed | stopped | diverged
    run_id: int
    metrics: dict[str, float]
    wall_time: float
    samples_per_sec: float
    parameters: int
    checkpoint: str | None = None
    message: str | None = None
    reused: bool = False  # found completed in the store, not trained now


@dataclass
class Job:
    """One run to train, as plain data so it can go to a worker process."""

    position: int
    total: int
    label: str
    config: dict[str, Any]
    resume: str | None
    data_dir: str | None
    runs_dir: str
    group: str
    metric: str
    verbose: bool
    iterations: int = 0  # when known without the data (not set by epochs)


def _canonical(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, default=str)


def configuration_key(config: dict[str, Any]) -> str:
    """The same for runs whose configs differ only in the seed: one configuration."""
    return _canonical({k: v for k, v in (config or {}).items() if k != "seed"})


def _done_or_resumable(
    stored: list[dict[str, Any]], config: dict[str, Any]
) -> tuple[dict[str, Any] | None, str | None]:
    """(finished store row, None) or (None, checkpoint to resume) or (None, None)."""
    key = _canonical(config)
    for row in stored:  # newest first
        if _canonical(row.get("config") or {}) != key:
            continue
        if row["status"] in ("completed", "stopped", "diverged"):
            return row, None
        checkpoint = row.get("checkpoint")
        if checkpoint and Path(checkpoint).is_file():
            return None, checkpoint
    return None, None


def check_same_settings(
    folder: Path, name: str, planned: list[PlannedRun], stored: list[dict[str, Any]]
) -> None:
    """Refuse a comparison that would replace the saved one of this name with other runs.

    Allowed: the same settings (a stopped comparison resumes, a finished one rebuilds its
    table) and a superset of them (more seeds, more grid values: every saved run is in the
    new table). Anything else - another preset or task, other iterations, fewer seeds -
    would silently overwrite table.md, runs.csv and comparison.json with a table of other
    runs, and `rnnlab report NAME` would then mix the two."""
    path = folder / "comparison.json"
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        saved_name = str(saved.get("name", name))
        saved_ids = [int(r["run_id"]) for r in saved["runs"]]
    except FileNotFoundError:
        return  # a new comparison, or one stopped before its first table
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return  # unreadable: nothing in it to keep; the new table replaces it
    fix = f"give --name NEW for a new comparison, or delete {folder} to replace it"
    if saved_name != name:  # two names with one slug ("a b", "a-b") share a folder
        raise ConfigError(
            f"comparison '{name}' would be saved in {folder}, which holds comparison "
            f"'{saved_name}'; give another --name"
        )
    # The saved runs' configs, as the store has them; ids the store does not have in this
    # group (a store moved aside and started again) say nothing about this comparison.
    by_id = {int(r["id"]): r for r in stored}
    saved_configs = [by_id[i] for i in saved_ids if i in by_id]
    now = {_canonical(run.config.to_dict()): run for run in planned}
    missing = [r for r in saved_configs if _canonical(r.get("config") or {}) not in now]
    if not missing:
        return
    row = missing[0]
    old = flatten(row.get("config") or {})

    def distance(new: dict[str, Any]) -> int:
        # every field counts here, the name too: the same grid point is the closest
        return sum(_canonical(old.get(k)) != _canonical(new.get(k)) for k in {*old, *new})

    closest = min((flatten(run.config.to_dict()) for run in planned), key=distance)
    fields = _differing(old, closest)
    if fields == ["seed"]:
        seeds = sorted({run.seed for run in planned})
        what = f"its run {row['id']} has seed {old['seed']}, not among the seeds now: {few(seeds)}"
    else:
        shown = [f"{f} {_value(old, f)}, now {_value(closest, f)}" for f in fields[:3]]
        more = f"; and {len(fields) - 3} more fields" if len(fields) > 3 else ""
        what = f"its run {row['id']} has {'; '.join(shown)}{more}"
    if len(missing) > 1:
        what += f"; {len(missing)} of its runs would leave its table"
    hint = ""
    if "threads" in fields:
        hint = "; --jobs sets each run's threads, so give the --jobs used before"
    raise ConfigError(f"comparison '{name}' exists with other settings ({what}); {fix}{hint}")


def _differing(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The flattened config fields that differ, "task" first: it explains all the others."""
    order: dict[str, int] = {}
    for key in [*old, *new]:
        order.setdefault(key, len(order))
    keys = sorted(order, key=lambda k: (k != "task", order[k]))
    out = [k for k in keys if _canonical(old.get(k)) != _canonical(new.get(k))]
    # the run name follows the grid point, which other fields show better; alone it says
    # the axes changed (an axis added: "hihell" is now "hihell[hidden=8]")
    return [k for k in out if k != "name"] or out


def _value(flat: dict[str, Any], key: str) -> str:
    return str(flat[key]) if key in flat else "-"


def train_job(job: Job) -> dict[str, Any]:
    """Train (or resume) one run; returns its store row. Runs in the parent or a worker."""
    from rnnlab import api
    from rnnlab.results.store import ResultsStore

    prefix = f"  [{job.position}/{job.total} {job.label}]"

    def progress(iteration: int, row: dict[str, Any]) -> None:
        if job.verbose and job.metric in row:
            of = f"/{job.iterations}" if job.iterations else ""
            print(
                f"{prefix} iteration {iteration}{of}: loss {row.get('train_loss', math.nan):.4f}"
                f", {job.metric} {row[job.metric]:.4f}",
                flush=True,
            )

    try:
        if job.resume:
            result = api.train(
                resume=job.resume, data_dir=job.data_dir, runs_dir=job.runs_dir,
                verbose=False, on_evaluate=progress,
            )  # fmt: skip
        else:
            result = api.train(
                from_dict(job.config), data_dir=job.data_dir, runs_dir=job.runs_dir,
                verbose=False, group=job.group, on_evaluate=progress,
            )  # fmt: skip
        run_id = result.run_id
    except TrainingDiverged as exc:
        if job.verbose:
            print(f"{prefix} diverged: {exc}", flush=True)
        run_id = exc.run_id
    row = ResultsStore(job.runs_dir).get_run(run_id)
    assert row is not None
    return row


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
        from rnnlab.api import _slug

        return self.runs_dir / "compare" / _slug(self.name)

    def status(self) -> tuple[int, int, int]:
        """How many planned runs are done, resumable and not started, by the store."""
        found = [_done_or_resumable(self.stored, run.config.to_dict()) for run in self.runs]
        done = sum(row is not None for row, _ in found)
        resumable = sum(checkpoint is not None for _, checkpoint in found)
        return done, resumable, len(self.runs) - done - resumable

    @property
    def configurations(self) -> int:
        return len(self.runs) // (len(self.seeds) if self.seeds else 1)

    def summary(self) -> str:
        n_seeds = len(self.seeds) if self.seeds is not None else 1
        return (
            f"Comparison '{self.name}': {_plural(len(self.runs), 'run')} "
            f"({_plural(self.configurations, 'configuration')} x {_plural(n_seeds, 'seed')})"
        )

    def to_dict(self) -> dict[str, Any]:
        """The plan as plain data: one entry per configuration, with its seeds and config."""
        parameters = _parameter_counts(self.runs, self.data_dir)
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
            "configurations": list(configurations.values()),
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
    from rnnlab.results.store import DB_NAME, ResultsStore, check_runs_folder
    from rnnlab.tasks import get_task_class
    from rnnlab.tasks.base import metric_higher_is_better

    check_source(source)
    check_arguments(
        study=study, overrides=overrides, name=name, metric=metric, data_dir=data_dir,
        runs_dir=runs_dir,
    )  # fmt: skip
    jobs = positive_jobs(jobs)

    spec = load_study(study) if study else Study(name="")
    axes = dict(spec.grid)
    axes.update(normalize_grid(grid))
    seed_list = normalize_seeds(seeds)
    given = override_items(overrides)
    check_overrides(given)
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
        source=_describe_source(source),
        axes=list(axes),
        seeds=seed_list,
        runs=planned,
        metric=metric,
        higher_is_better=metric_higher_is_better(metric, task_cls.higher_is_better),
        runs_dir=runs_path,
        jobs=jobs,
        data_dir=data_dir,
    )
    if (runs_path / DB_NAME).exists():  # read what is there; a plan changes no store
        store = ResultsStore(runs_path, readonly=True)
        plan.stored = store.list_runs(group=f"compare:{name}")
    check_same_settings(plan.folder, name, planned, plan.stored)
    return plan


def compare(
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
    verbose: bool = True,
) -> ComparisonResult:
    """Train every configuration of a grid over the given seeds and summarise them in one
    table (mean +- std over seeds, parameters, time), saved under RUNS/compare/NAME/.

    `source` is a preset name, a config file, a dict of settings or a RunConfig; `study` a
    shipped comparison (`study_names()`)
    whose settings the other arguments extend or override. `grid` maps a config field (or
    "preset") to its values, a list or the CLI's "8,16"; `seeds` is a list, a range, a
    string like "0-9" or one int. `jobs` > 1 trains that many runs at once in worker
    processes, each with its share of the CPU threads. A name whose comparison is saved with
    other settings is refused (see `check_same_settings`). `plan_comparison` checks the same
    arguments without training.
    """
    from rnnlab.experiments.table import summarise, write_tables
    from rnnlab.results.store import ResultsStore

    plan = plan_comparison(
        source, study=study, grid=grid, seeds=seeds, overrides=overrides, name=name,
        metric=metric, jobs=jobs, data_dir=data_dir, runs_dir=runs_dir,
    )  # fmt: skip
    name, source, planned, metric = plan.name, plan.source, plan.runs, plan.metric
    seed_list, runs_path, folder, jobs = plan.seeds, plan.runs_dir, plan.folder, plan.jobs
    group = f"compare:{name}"
    ResultsStore(runs_path)  # made here when new; the plan has read the runs already in it
    stored = plan.stored
    parameters = _parameter_counts(planned, data_dir)

    outcomes: dict[int, RunOutcome] = {}
    todo: list[tuple[int, Job]] = []
    for i, run in enumerate(planned):
        config = run.config.to_dict()
        iterations = 0 if run.config.train.epochs else run.config.train.iters
        done, resume = _done_or_resumable(stored, config)
        if done is not None:
            outcomes[i] = _outcome(run, done, metric, parameters[i], reused=True)
            continue
        todo.append(
            (
                i,
                Job(
                    position=0, total=0, label=_run_label(run), config=config, resume=resume,
                    data_dir=str(data_dir) if data_dir else None, runs_dir=str(runs_path),
                    group=group, metric=metric,
                    verbose=verbose, iterations=iterations,
                ),
            )
        )  # fmt: skip
    for k, (_, job) in enumerate(todo, 1):
        job.position, job.total = k, len(todo)

    if verbose:
        resumed = sum(1 for _, j in todo if j.resume)
        print(
            f"{plan.summary()}; {len(outcomes)} already done, "
            f"{resumed} to resume, {len(todo) - resumed} to train"
            f"{f'; {jobs} at a time' if jobs > 1 and len(todo) > 1 else ''}",
            flush=True,
        )
    started = time.perf_counter()

    position = {index: job.position for index, job in todo}

    def finished(index: int, row: dict[str, Any], count: int) -> None:
        outcome = _outcome(planned[index], row, metric, parameters[index])
        outcomes[index] = outcome
        if verbose:
            spent = time.perf_counter() - started
            left = spent / count * (len(todo) - count)
            shown = _shown(outcome, metric)
            # the run's own number, as its progress lines show it; runs in parallel finish
            # out of order, so how many are done is said apart
            done = f"{count} of {len(todo)} done, " if jobs > 1 else ""
            print(
                f"[{position[index]}/{len(todo)}] {_run_label(planned[index])}: {shown} "
                f"in {outcome.wall_time:.1f} s (run {outcome.run_id}) | "
                f"{done}{hms(spent)} elapsed, ~{hms(left)} left",
                flush=True,
            )

    try:
        _execute(todo, jobs, finished)
    except (KeyboardInterrupt, TrainingInterrupted):
        raise ComparisonInterrupted(
            f"comparison '{name}' interrupted: {len(outcomes)} of {len(planned)} runs done, "
            "the current ones saved; run the same command again to continue"
        ) from None

    ordered = [outcomes[i] for i in range(len(planned))]
    rows = summarise(ordered, metric, planned)
    result = ComparisonResult(
        name=name,
        folder=folder,
        metric=metric,
        higher_is_better=plan.higher_is_better,
        axes=plan.axes,
        seeds=seed_list or [planned[0].seed],
        rows=rows,
        runs=ordered,
        source=source,
    )
    write_tables(result)
    return result


def share_threads(planned: list[PlannedRun], jobs: int) -> None:
    """Give runs trained `jobs` at a time their share of the cores, unless a config sets its
    own. The thread count changes float rounding and so the run itself: it goes into each
    config, where the store and a later match see it."""
    if jobs > 1:
        share = max(1, (os.cpu_count() or 1) // jobs)
        for run in planned:
            run.config.threads = run.config.threads or share


def _execute(todo: list[tuple[int, Job]], jobs: int, finished: Any) -> None:
    if jobs == 1 or len(todo) <= 1:
        for count, (index, job) in enumerate(todo, 1):
            finished(index, train_job(job), count)
        return
    # spawn, not fork: forking a process that already runs OpenMP threads can hang the child.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context)
    pending: dict[Future, int] = {}
    count = 0
    try:
        for index, job in todo:
            pending[pool.submit(train_job, job)] = index
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                index = pending.pop(future)
                count += 1
                finished(index, future.result(), count)
    except BrokenProcessPool:
        pool.shutdown(wait=False, cancel_futures=True)
        raise RnnlabError(
            "a worker process of the comparison ended abruptly (killed, out of memory, or, "
            "from a Python script, compare(jobs>1) called outside `if __name__ == "
            '"__main__":`, which worker processes need); finished runs are kept: run it again '
            "to continue, or use jobs=1"
        ) from None
    except BaseException:
        # Workers got the same Ctrl-C and are saving their runs: let them finish that.
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


# --------------------------------------------------------------------------- results


@dataclass
class ComparisonResult:
    name: str
    folder: Path
    metric: str
    higher_is_better: bool
    axes: list[str]
    seeds: list[int]
    rows: list[Any]  # rnnlab.experiments.table.Row, one per configuration
    runs: list[RunOutcome]
    source: str | None = None
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def best(self) -> Any:
        scored = [r for r in self.rows if r.count]
        if not scored:
            return None
        pick = max if self.higher_is_better else min
        return pick(scored, key=lambda r: r.mean)


def _outcome(
    run: PlannedRun, row: dict[str, Any], metric: str, parameters: int, reused: bool = False
) -> RunOutcome:
    metrics = row.get("final_metrics") or {}
    if row["status"] != "diverged" and metric not in metrics:
        available = ", ".join(sorted(metrics)) or "none"
        raise ConfigError(f"run {row['id']} has no metric '{metric}'; it has: {available}")
    return RunOutcome(
        cell=run.cell,
        seed=run.seed,
        status=row["status"],
        run_id=int(row["id"]),
        metrics=metrics if row["status"] != "diverged" else {},
        wall_time=float(row.get("wall_time") or 0.0),
        samples_per_sec=float(row.get("samples_per_sec") or 0.0),
        parameters=parameters,
        checkpoint=row.get("checkpoint"),
        message=row.get("message"),
        reused=reused,
    )


def _parameter_counts(planned: list[PlannedRun], data_dir: str | Path | None) -> list[int]:
    """Each run's model size (0 where the data that sizes it is not at hand), built once per
    configuration."""
    from rnnlab.api import parameter_count

    counts: dict[str, int] = {}
    out = []
    for run in planned:
        key = configuration_key(run.config.to_dict())
        if key not in counts:
            counts[key] = parameter_count(run.config, data_dir) or 0
        out.append(counts[key])
    return out


def _shown(outcome: RunOutcome, metric: str) -> str:
    if outcome.status == "diverged":
        return "diverged"
    value = outcome.metrics[metric]
    return f"{metric} {value:.2f}" + (" (stopped early)" if outcome.status == "stopped" else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _run_label(run: PlannedRun) -> str:
    return f"{run.cell_label} seed {run.seed}" if run.cell else f"seed {run.seed}"
