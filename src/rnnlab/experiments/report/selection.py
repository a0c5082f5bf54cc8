"""Which runs a report covers, read from the results store: their rows and metrics over
time, the comparison they belong to, and the metric to show."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnlab.errors import ConfigError, RnnlabError
from rnnlab.experiments.ranges import MAX_VALUES, TooManyValues, few, int_ranges, ranges_text


@dataclass
class Selection:
    """The selected runs, oldest first, and what the store holds about them."""

    description: str  # "comparison 'seed-c'", "name 'seed-a', runs 7,8": the report's title
    group: str | None  # --group, or compare:NAME for a comparison
    ids: list[int]  # the run ids asked for; empty for every run the filters let through
    rows: list[dict[str, Any]]
    histories: dict[int, list[dict[str, Any]]]  # run id -> its metrics over time
    comparison: dict[str, Any] | None = None  # its comparison.json, when one was selected
    notes: list[str] = field(default_factory=list)  # what the page must say it left out
    sweep: dict[str, str] | None = None  # a sweep group's objective (metric, direction, split)


def parse_run_ids(text: str) -> list[int]:
    """ "3,5,8" -> [3, 5, 8]; "3-5" -> [3, 4, 5]."""
    try:
        return int_ranges(text)
    except TooManyValues as exc:
        raise ConfigError(f"--runs {exc}") from None
    except ValueError:
        raise ConfigError(f"--runs expects run ids, e.g. 3,5,8 or 3-8; got '{text}'") from None


def run_ids(runs: Any) -> tuple[list[int], set[int]]:
    """`runs` as the ids asked for and, among them, those named one by one.

    A named id that the selection lacks is a typo worth an error; a range ("1-5000",
    range(1, 5000)) is a bound: the runs in it that the store and the other filters select.
    The Python API takes what the CLI does ("3,5-8"), one id, or a list of ids (ints or
    digit strings); an empty list is refused rather than read as "no filter"."""
    if runs is None:
        return [], set()
    if isinstance(runs, str):
        ids = parse_run_ids(runs)
        named = set()
        for part in runs.split(","):
            if "-" not in part:
                named.add(int(part))
        return ids, named
    if isinstance(runs, range):
        # as "--runs 1-99999999": a typo, not a selection (len() itself fails past 2**63)
        try:
            too_many = len(runs) > MAX_VALUES
        except OverflowError:
            too_many = True
        if too_many:
            raise ConfigError(
                f"runs={runs} names more than {MAX_VALUES:,} ids; give a smaller range"
            )
        if not runs:  # range(0), range(5, 1): as runs=[], not "no filter" (every run)
            raise ConfigError(f"runs={runs} selects no run; leave runs out to report every run")
        return list(runs), set()
    if isinstance(runs, int) and not isinstance(runs, bool):
        runs = [runs]
    if not isinstance(runs, (list, tuple, set, frozenset)):
        raise ConfigError(
            "runs must be run ids: one id, a list such as [3, 5] or a string such as "
            f"'3,5,8' or '3-8'; got {type(runs).__name__}"
        )
    ids = []
    for r in runs:
        if isinstance(r, str) and r.strip().isdigit():
            r = int(r)
        if isinstance(r, bool) or not isinstance(r, int) or r < 1:
            raise ConfigError(f"runs must be run ids (positive integers), got {r!r}")
        ids.append(r)
    if not ids:
        raise ConfigError("runs=[] selects no run; leave runs out to report every run")
    return sorted(set(ids)), set(ids)


def select_runs(
    runs_path: Path,
    comparison: str | None,
    group: str | None,
    name: str | None,
    task: str | None,
    runs: list[int] | range | int | str | None,
) -> Selection:
    """The runs in the store at `runs_path` that the filters select; a one-line error when
    there is no store, no such comparison, or no run to report."""
    from rnnlab.results.store import DB_NAME, ResultsStore, check_runs_folder

    check_runs_folder(runs_path)
    if not (runs_path / DB_NAME).is_file():
        raise RnnlabError(
            f"no results store in {runs_path} (no {DB_NAME}); point --runs-dir at the folder "
            "your runs were recorded in (default ./runs or $RNNLAB_RUNS)"
        )
    for option, value in (("comparison", comparison), ("--group", group), ("--name", name),
                          ("--task", task)):  # fmt: skip
        if value is not None and not str(value).strip():
            # as runs=[]: an empty filter is a slip, not "every run"
            raise ConfigError(f"{option} is empty; name one, or leave it out to report every run")
    ids, named = run_ids(runs)
    notes: list[str] = []

    if comparison and group and group != f"compare:{comparison}":
        raise ConfigError(
            f"give a comparison name or --group, not both ('{comparison}' is group "
            f"'compare:{comparison}')"
        )
    if comparison:
        group = f"compare:{comparison}"
    # --group compare:NAME is the comparison NAME too: its table comes with it
    comp_name = group[len("compare:") :] if group and group.startswith("compare:") else None
    comp_data = _load_comparison(runs_path, comp_name, notes) if comp_name else None
    store = ResultsStore(runs_path)
    if comparison and comp_data is None and not store.list_runs(group=group, limit=1):
        present = _comparison_names(runs_path)
        listed = (
            f"comparisons in {runs_path / 'compare'}: {', '.join(present)}"
            if present
            else f"there are no comparisons in {runs_path / 'compare'} yet (rnnlab compare)"
        )
        raise ConfigError(f"unknown comparison '{comparison}'; {listed}")
    description = _describe(comparison, group, name, task, ids)
    rows = store.list_runs(name=name, task=task, group=group)
    if comp_data is not None:
        rows = _comparison_runs(rows, comp_data, comp_name or "", notes)
    if ids:
        rows = [r for r in rows if int(r["id"]) in set(ids)]
        missing = sorted(named - {int(r["id"]) for r in rows})
        if rows and missing:
            # capped: "--runs 1-5000" once listed every id it lacked, a 50 KB line
            raise ConfigError(
                f"run {few(missing)} {'is' if len(missing) == 1 else 'are'} not in the "
                f"selection ({description}) in {runs_path}; rnnlab runs lists the recorded runs"
            )
    if not rows:
        raise RnnlabError(
            f"no runs match the selection ({description}) in {runs_path}; "
            "rnnlab runs lists the recorded runs"
        )
    rows.sort(key=lambda r: r["id"])
    histories = {int(r["id"]): store.metrics(int(r["id"])) for r in rows}
    sweep = None
    if group and group.startswith("sweep:"):
        from rnnlab.experiments.sweep.results import saved_objective

        sweep = saved_objective(runs_path, group[len("sweep:") :])
    return Selection(description, group, ids, rows, histories, comp_data, notes, sweep)


def _comparison_runs(
    rows: list[dict[str, Any]], comparison: dict[str, Any], name: str, notes: list[str]
) -> list[dict[str, Any]]:
    """Only the runs behind the comparison's saved table. Its group may hold others: runs
    of an earlier version of it (older rnnlab replaced a comparison's table when its name was
    reused with other settings, even another task), or of an extension still unfinished."""
    table = table_run_ids(comparison)
    if not table:  # not listed (another rnnlab version wrote it): the group is all there is
        return rows
    others = sorted(int(r["id"]) for r in rows if int(r["id"]) not in table)
    if others:
        one = len(others) == 1
        notes.append(
            f"run {ranges_text(others, ', ')} of group 'compare:{name}' {'is' if one else 'are'} "
            f"not in the comparison's saved table and left out; rnnlab report --runs "
            f"{ranges_text(others)} shows {'it' if one else 'them'}"
        )
    return [r for r in rows if int(r["id"]) in table]


def table_run_ids(comparison: dict[str, Any]) -> set[int] | None:
    """The ids of the runs behind a comparison's saved table; None (or empty) where its
    comparison.json, written by another rnnlab version, does not list them."""
    try:
        return {int(r["run_id"]) for r in comparison.get("runs") or []}
    except (KeyError, TypeError, ValueError):
        return None


def _comparison_names(runs_dir: Path) -> list[str]:
    names = []
    for path in sorted((runs_dir / "compare").glob("*/comparison.json")):
        try:
            names.append(str(json.loads(path.read_text(encoding="utf-8"))["name"]))
        except (OSError, ValueError, KeyError, TypeError):
            names.append(path.parent.name)
    return names


def _load_comparison(runs_dir: Path, name: str, notes: list[str]) -> dict[str, Any] | None:
    from rnnlab.results.records import slug

    path = runs_dir / "compare" / slug(name) / "comparison.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data.get("rows"), list):
            raise ValueError("no rows")
    except (OSError, ValueError, AttributeError) as exc:
        # The store still has every run: report them without the comparison's table.
        notes.append(f"{path} is not readable ({exc}); its summary table is left out")
        return None
    return data


def _describe(
    comparison: str | None, group: str | None, name: str | None, task: str | None, ids: Any
) -> str:
    parts = []
    if comparison:
        parts.append(f"comparison '{comparison}'")
    elif group:
        parts.append(f"group '{group}'")
    if name:
        parts.append(f"name '{name}'")
    if task:
        parts.append(f"task '{task}'")
    if ids:
        parts.append(f"runs {ranges_text(ids)}")  # "1-5000", not five thousand ids
    return ", ".join(parts) or "all runs"


def choose_metric(metric: str | None, selection: Selection) -> tuple[str, bool]:
    """The metric to show and whether higher is better: `metric` where given, else the
    comparison's, else the tasks' primary one; an error where no run has it."""
    from rnnlab.tasks import get_task_class
    from rnnlab.tasks.base import metric_higher_is_better

    comparison, rows, histories = selection.comparison, selection.rows, selection.histories
    tasks = sorted({r["task"] for r in rows})
    if len(tasks) > 1:
        # Refused even with --metric: one task's curves beside another's (a loss over
        # characters beside one over images) compare nothing, whatever the metric's name.
        primary = {get_task_class(t).primary_metric for t in tasks}
        differ = " with different metrics" if len(primary) > 1 else ""
        raise ConfigError(
            f"the selected runs are of several tasks ({', '.join(tasks)}){differ}; a report "
            f"shows one task's runs: choose one with --task (e.g. --task {tasks[0]})"
        )
    if metric is None and comparison and comparison.get("metric"):
        metric = str(comparison["metric"])
    sweep = selection.sweep
    if metric is None and sweep is not None:
        # the metric the sweep tuned on: its "best" is then the sweep's best, never one
        # picked on test data (test_acc is the task's default, and the sweep's report-only)
        metric = sweep["metric"]
        selection.notes.append(
            f"{metric} is the objective the sweep tuned on ({sweep['split']}); "
            "--metric test_acc shows the test figures, which it never tuned on"
            if sweep["split"] != "test"
            else f"{metric} is the objective the sweep tuned on (test: the task has no "
            "validation data, so the best value is optimistic)"
        )
    if metric is None:
        metric = get_task_class(tasks[0]).primary_metric
    available: set[str] = set()
    for r in rows:
        available.update(r.get("final_metrics") or {})
        for h in histories[int(r["id"])]:
            available.update(h)
    available -= {"iteration", "wall_time"}
    if metric not in available:
        raise ConfigError(
            f"no selected run has the metric '{metric}'; they have: "
            f"{', '.join(sorted(available)) or 'none (no evaluation recorded yet)'}"
        )
    default = get_task_class(tasks[0]).higher_is_better if len(tasks) == 1 else True
    if comparison and comparison.get("metric") == metric and "higher_is_better" in comparison:
        return metric, bool(comparison["higher_is_better"])
    if sweep is not None and sweep["metric"] == metric:
        return metric, sweep["direction"] == "maximize"
    return metric, metric_higher_is_better(metric, default)
