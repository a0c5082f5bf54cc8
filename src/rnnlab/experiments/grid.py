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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnlab.config import (
    RunConfig,
    _parse_toml,
    flatten,
    from_dict,
    override_items,
    shipped_names,
    shipped_text,
)
from rnnlab.errors import ConfigError, RnnlabError, TrainingDiverged, TrainingInterrupted
from rnnlab.experiments.ranges import TooManyValues, int_ranges
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
    choices = [v.strip() for v in values.split(",") if v.strip()]
    if not sep or not key.strip() or not choices:
        raise ConfigError(f"--grid expects FIELD=V1,V2,..., e.g. model.layers=1,2,3; got '{text}'")
    return key.strip(), choices


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
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds names a seed twice: '{text}'")
    return seeds


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
    for values in itertools.product(*(grid[a] for a in axes)):
        cell = dict(zip(axes, values))
        base = cell.get(PRESET_AXIS, source)
        fields = [(a, v) for a, v in cell.items() if a != PRESET_AXIS]
        try:
            cfg = make_config(base, dict(overrides + fields))
        except ConfigError as exc:
            where = f" (grid point {cell_label(cell)})" if cell else ""
            raise ConfigError(f"{exc}{where}") from None
        cfg.name = _run_name(name, cell)
        for seed in seeds if seeds is not None else [cfg.seed]:
            run_cfg = cfg.copy()
            run_cfg.seed = seed
            planned.append(PlannedRun(cell, seed, run_cfg, str(base) if base else None))
    return planned


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


def compare(
    source: str | Path | None = None,
    *,
    study: str | None = None,
    grid: dict[str, list[Any]] | list[str] | None = None,
    seeds: list[int] | str | None = None,
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

    `source` is a preset name or config file; `study` a shipped comparison (`study_names()`)
    whose settings the other arguments extend or override. `grid` maps a config field (or
    "preset") to its values; `seeds` is a list or a string like "0-9". `jobs` > 1 trains
    that many runs at once in worker processes, each with its share of the CPU threads.
    """
    from rnnlab.api import _slug
    from rnnlab.data.paths import default_runs_dir
    from rnnlab.experiments.table import summarise, write_tables
    from rnnlab.results.store import ResultsStore
    from rnnlab.tasks import get_task_class
    from rnnlab.tasks.base import metric_higher_is_better

    spec = load_study(study) if study else Study(name="")
    axes = dict(spec.grid)
    if isinstance(grid, list):
        grid = parse_axes(grid)
    axes.update(grid or {})
    seed_list = parse_seeds(seeds) if isinstance(seeds, str) else seeds
    if seed_list is None and spec.seeds:
        seed_list = spec.seeds
    source = str(source) if source is not None else spec.source
    name = name or spec.name or (Path(source).stem if source else "compare")
    if jobs < 1:
        raise ConfigError(f"--jobs must be a positive integer, got {jobs}")
    # a study's fixed settings give way to an axis given now; settings given now may not
    study_fixed = [(k, v) for k, v in override_items(spec.overrides) if k not in axes]
    fixed = study_fixed + override_items(overrides)
    planned = plan_runs(name, source, axes, seed_list, fixed)
    task_cls = get_task_class(planned[0].config.task)
    metric = metric or task_cls.primary_metric
    for run in planned:  # a typo would otherwise show only after the first run has trained
        get_task_class(run.config.task).check_metric(run.config, metric)
    higher_is_better = metric_higher_is_better(metric, task_cls.higher_is_better)

    runs_path = Path(runs_dir) if runs_dir else default_runs_dir()
    store = ResultsStore(runs_path)
    group = f"compare:{name}"
    stored = store.list_runs(group=group)
    share_threads(planned, jobs)
    parameters = _parameter_counts(planned)

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
        n_seeds = len(seed_list) if seed_list is not None else 1
        print(
            f"Comparison '{name}': {len(planned)} runs "
            f"({_plural(len(planned) // n_seeds, 'configuration')} x {_plural(n_seeds, 'seed')}); "
            f"{len(outcomes)} already done, "
            f"{resumed} to resume, {len(todo) - resumed} to train"
            f"{f'; {jobs} at a time' if jobs > 1 and len(todo) > 1 else ''}",
            flush=True,
        )
    started = time.perf_counter()

    def finished(index: int, row: dict[str, Any], count: int) -> None:
        outcome = _outcome(planned[index], row, metric, parameters[index])
        outcomes[index] = outcome
        if verbose:
            spent = time.perf_counter() - started
            left = spent / count * (len(todo) - count)
            shown = _shown(outcome, metric)
            print(
                f"[{count}/{len(todo)}] {_run_label(planned[index])}: {shown} "
                f"in {outcome.wall_time:.1f} s (run {outcome.run_id}) | "
                f"{hms(spent)} elapsed, ~{hms(left)} left",
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
        folder=runs_path / "compare" / _slug(name),
        metric=metric,
        higher_is_better=higher_is_better,
        axes=list(axes),
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
    pending: dict[Future, int] = {pool.submit(train_job, job): index for index, job in todo}
    count = 0
    try:
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                index = pending.pop(future)
                count += 1
                finished(index, future.result(), count)
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


def _parameter_counts(planned: list[PlannedRun]) -> list[int]:
    from rnnlab.api import build_model_without_data

    counts: dict[str, int] = {}
    out = []
    for run in planned:
        key = configuration_key(run.config.to_dict())
        if key not in counts:
            try:
                model = build_model_without_data(run.config)
                counts[key] = sum(p.numel() for p in model.parameters())
            except RnnlabError:  # a task that needs its data to size the model
                counts[key] = 0
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
