"""Reports: learning curves and a summary of recorded runs, from the results store alone.

No data and no checkpoints are read: every figure comes from `rnnlab.db` (configs, final
metrics, metrics over time) and, for a comparison, its `comparison.json` (axes and summary
rows). A report is a folder of three PNGs, one self-contained HTML page that embeds them and
`report.json` with the same content as data.

Runs that share a configuration (everything in the config but the seed) are drawn as one
line: the mean over their finished seeds with a band of one standard deviation, at the
iterations all of them reached; a run that did not finish is drawn dashed on its own, in no
mean. When every configuration has a single run, each run is its own line.

The steps, one module each: `selection` reads the runs from the store, `gather` turns them
into the report's data, `plots` and `page` draw and render it, `files` writes it out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnlab.experiments.report.files import check_writable, default_slug, write_report
from rnnlab.experiments.report.gather import report_data, varying_fields
from rnnlab.experiments.report.selection import choose_metric, parse_run_ids, select_runs


@dataclass
class ReportResult:
    """Where a report went and what it covers."""

    folder: Path
    html: Path
    json: Path
    curves: Path
    loss: Path
    final: Path
    run_ids: list[int]
    metric: str
    summary: str  # one line: how many runs and configurations, and the best one
    data: dict[str, Any] = field(default_factory=dict)  # what report.json holds

    @property
    def paths(self) -> dict[str, Path]:
        """The files by name, as a sweep result's `paths` are."""
        names = ("html", "json", "curves", "loss", "final", "folder")
        return {name: getattr(self, name) for name in names}


def report(
    comparison: str | None = None,
    *,
    group: str | None = None,
    name: str | None = None,
    task: str | None = None,
    runs: list[int] | range | int | str | None = None,
    metric: str | None = None,
    out: str | Path | None = None,
    runs_dir: str | Path | None = None,
) -> ReportResult:
    """Learning curves, final values and a table of the selected runs, written to `out`
    (default RUNS/reports/<selection>/) as curves.png, loss.png, final.png, report.html and
    report.json.

    `comparison` selects the runs of `rnnlab compare NAME` (group "compare:NAME") and takes
    its axes and summary table; `group`, `name` (* is a wildcard), `task` and `runs` (one
    id, a list or "3,5,8" / "3-8"; an id named alone must be selected, a range or `range`
    is a bound) narrow the selection. `metric` defaults to the comparison's, else (group
    "sweep:STUDY") the objective the sweep tuned on, else the task's primary metric
    (test_acc for classification).
    """
    from rnnlab.arguments import check_arguments
    from rnnlab.data.paths import default_runs_dir
    from rnnlab.tasks import get_task_class

    check_arguments(
        comparison=comparison, group=group, name=name, task=task, metric=metric, out=out,
        runs_dir=runs_dir,
    )  # fmt: skip
    _refuse_empty(metric=metric, out=out)
    if task is not None:
        get_task_class(task)  # a typo is an unknown task, not "no runs match"
    runs_path = Path(runs_dir) if runs_dir else default_runs_dir()
    selection = select_runs(runs_path, comparison, group, name, task, runs)
    metric, higher_is_better = choose_metric(metric, selection)
    slug = default_slug(comparison, selection.group, name, task, selection.ids)
    folder = Path(out) if out else runs_path / "reports" / slug
    check_writable(folder)

    data = report_data(selection, runs_path, metric, higher_is_better)
    files = write_report(folder, data)  # also records them in data["files"]
    return ReportResult(
        folder=folder,
        html=files["html"],
        json=files["json"],
        curves=files["curves"],
        loss=files["loss"],
        final=files["final"],
        run_ids=[int(r["id"]) for r in selection.rows],
        metric=metric,
        summary=data["summary"],
        data=data,
    )


def _refuse_empty(**options: str | Path | None) -> None:
    """An empty --out or --metric (an unset shell variable) is a slip, as an empty --name is:
    not the default folder or metric, which would be used without a word."""
    from rnnlab.errors import ConfigError

    for option, value in options.items():
        if isinstance(value, str) and not value.strip():
            raise ConfigError(f"--{option} is empty; give one, or leave it out for the default")


__all__ = ["ReportResult", "parse_run_ids", "report", "varying_fields"]
