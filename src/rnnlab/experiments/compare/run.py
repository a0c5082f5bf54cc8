"""`compare`: train a planned comparison and summarise it in one table."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnlab.config import RunConfig
from rnnlab.errors import ConfigError, RnnlabError, TrainingInterrupted, TrainingTerminated
from rnnlab.experiments.compare.lock import training_lock
from rnnlab.experiments.compare.plan import (
    ComparisonPlan,
    PlannedRun,
    parameter_counts,
    plan_comparison,
)
from rnnlab.experiments.compare.stored import done_or_resumable
from rnnlab.experiments.compare.workers import Job, execute
from rnnlab.training.progress import hms


class ComparisonInterrupted(TrainingInterrupted):
    """Ctrl-C during a comparison: finished runs are kept, the current ones were saved."""


class ComparisonTerminated(ComparisonInterrupted, TrainingTerminated):
    """SIGTERM during a comparison: saved as after Ctrl-C; the command exits with 143."""


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
    other settings is refused (see `check_same_settings`), and so is one that another process
    is training now in the same runs folder (ComparisonBusy, at once: see `lock`).
    Ctrl-C or SIGTERM stops every run in progress at its next iteration, saved, and raises
    ComparisonInterrupted (ComparisonTerminated, a TrainingTerminated, after SIGTERM): the
    same call again continues (see `workers`).
    `plan_comparison` checks the same arguments without training.
    """
    from rnnlab.arguments import check_arguments
    from rnnlab.results.store import ResultsStore

    if getattr(multiprocessing.current_process(), "_inheriting", False):
        # A worker starting up, as it re-imports a script that calls compare(jobs > 1)
        # without the `__main__` guard: it leaves at once and silently, so the caller's
        # one error (a broken worker pool) is all the user reads, not one traceback a worker.
        raise SystemExit(1)
    check_arguments(verbose=verbose)  # verbose="no" would be true: checked as train checks it
    plan = plan_comparison(
        source, study=study, grid=grid, seeds=seeds, overrides=overrides, name=name,
        metric=metric, jobs=jobs, data_dir=data_dir, runs_dir=runs_dir,
    )  # fmt: skip
    # made here when new; a store it may only read is refused before any run starts
    ResultsStore(plan.runs_dir).check_writable()
    # Two identical commands started together would each train the whole grid: one holds
    # the comparison's lock while it trains, the other stops at once (ComparisonBusy).
    with training_lock(plan.folder, plan.name, plan.runs_dir):
        plan.read_store()  # what another process trained or saved before the lock was ours
        return _train(plan, data_dir, verbose)


def _train(plan: ComparisonPlan, data_dir: str | Path | None, verbose: bool) -> ComparisonResult:
    """Train the plan's runs the store does not hold done, then save and return its table."""
    from rnnlab.experiments.table import summarise, write_tables

    name, source, planned, metric = plan.name, plan.source, plan.runs, plan.metric
    seed_list, runs_path, folder, jobs = plan.seeds, plan.runs_dir, plan.folder, plan.jobs
    group = f"compare:{name}"
    stored = plan.stored
    parameters = parameter_counts(planned, data_dir)

    outcomes: dict[int, RunOutcome] = {}
    todo: list[tuple[int, Job]] = []
    for i, run in enumerate(planned):
        config = run.config.to_dict()
        iterations = 0 if run.config.train.epochs else run.config.train.iters
        done, resume = done_or_resumable(stored, config, runs_path)
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
            # a --jobs beyond the runs starts no more workers than runs
            f"{f'; {min(jobs, len(todo))} at a time' if jobs > 1 and len(todo) > 1 else ''}",
            flush=True,
        )
        for note in plan.notes():
            print(note, flush=True)
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
        execute(todo, jobs, finished)
    except (KeyboardInterrupt, TrainingInterrupted) as exc:
        raise _interrupted(plan, exc, len(outcomes)) from None

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


def _interrupted(plan: ComparisonPlan, exc: BaseException, done: int) -> ComparisonInterrupted:
    """The one line a stopped comparison ends with: where it stands, by the store (as the
    same command run again will find it), and how to go on."""
    terminated = isinstance(exc, TrainingTerminated)
    what = "stopped by SIGTERM" if terminated else "interrupted"
    try:
        plan.read_store()
        done, resumable, fresh = plan.status()
        where = (
            f"{done} of {len(plan.runs)} runs done, {resumable} saved to resume, {fresh} to train"
        )
    except (RnnlabError, OSError, sqlite3.Error):  # the store cannot say now: what this one saw
        where = f"{done} of {len(plan.runs)} runs done, the current ones saved"
    error = ComparisonTerminated if terminated else ComparisonInterrupted
    return error(
        f"comparison '{plan.name}' {what}: {where}; run the same command again to continue: "
        "it keeps the runs done, resumes the saved ones from their checkpoints and trains the "
        "rest"
    )


@dataclass
class ComparisonResult:
    """What `compare` returns. `rows`: one per configuration, in grid order (`cell`, the
    grid point; `mean`, `std`, `median`, `low`, `high` of `metric` over the seeds; `count`,
    `diverged`, `stopped`, `parameters`, `seconds` per run, `samples_per_sec`, `published`,
    `run_ids`). `runs`: one RunOutcome per planned run, in plan order. `files`: the paths of
    the saved "markdown", "csv" and "json" tables in `folder`. `best`: the best row by
    `metric` (None when every run diverged)."""

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


def _shown(outcome: RunOutcome, metric: str) -> str:
    if outcome.status == "diverged":
        return "diverged"
    value = outcome.metrics[metric]
    return f"{metric} {value:.2f}" + (" (stopped early)" if outcome.status == "stopped" else "")


def _run_label(run: PlannedRun) -> str:
    return f"{run.cell_label} seed {run.seed}" if run.cell else f"seed {run.seed}"
