"""A comparison's summary: one row per configuration (mean +- std over seeds, parameters,
time), printed as text and saved as Markdown, CSV and JSON that hold every run behind it."""

from __future__ import annotations

import csv
import io
import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnlab.config import RunConfig, load_preset, preset_names, preset_published
from rnnlab.experiments.compare import short_field
from rnnlab.results.atomic import atomic_write_text
from rnnlab.results.jsontext import json_safe, json_text

if TYPE_CHECKING:
    from rnnlab.experiments.compare import ComparisonResult, PlannedRun, RunOutcome


@dataclass
class Row:
    cell: dict[str, Any]
    runs: int  # planned runs of this configuration (one per seed)
    count: int  # runs with a value (not diverged)
    mean: float
    std: float  # sample standard deviation over seeds; NaN (null in JSON) for a single run
    median: float
    low: float
    high: float
    diverged: int
    stopped: int
    parameters: int
    seconds: float  # mean wall time of one run
    samples_per_sec: float
    published: float | None = None  # the tutorials' figure where this row is their recipe
    run_ids: list[int] = field(default_factory=list)


def summarise(outcomes: list[RunOutcome], metric: str, planned: list[PlannedRun]) -> list[Row]:
    """Group runs by configuration, in grid order."""
    groups: dict[str, list[tuple[RunOutcome, PlannedRun]]] = {}
    for outcome, run in zip(outcomes, planned):
        groups.setdefault(json.dumps(outcome.cell, default=str), []).append((outcome, run))
    rows = []
    for members in groups.values():
        values = [o.metrics[metric] for o, _ in members if o.status != "diverged"]
        speeds = [o.samples_per_sec for o, _ in members if o.samples_per_sec > 0]
        first, run = members[0]
        rows.append(
            Row(
                cell=first.cell,
                runs=len(members),
                count=len(values),
                mean=statistics.fmean(values) if values else float("nan"),
                std=statistics.stdev(values) if len(values) > 1 else float("nan"),
                median=statistics.median(values) if values else float("nan"),
                low=min(values, default=float("nan")),
                high=max(values, default=float("nan")),
                diverged=sum(o.status == "diverged" for o, _ in members),
                stopped=sum(o.status == "stopped" for o, _ in members),
                parameters=first.parameters,
                seconds=statistics.fmean(o.wall_time for o, _ in members),
                # a diverged run records no speed: average the runs that measured one
                samples_per_sec=statistics.fmean(speeds) if speeds else 0.0,
                published=_published(run, metric),
                run_ids=[o.run_id for o, _ in members],
            )
        )
    return rows


def _published(run: PlannedRun, metric: str) -> float | None:
    """The tutorials' figure, shown only where the row is exactly their recipe: the same
    model and training on MNIST read by rows, whatever the seed and evaluation settings."""
    if metric != "test_acc" or run.config.task != "classify":
        return None
    preset = run.base
    if preset not in preset_names():
        return None
    figure = preset_published(preset)
    if figure is None:
        return None
    reference = load_preset(preset)
    return figure if _same_recipe(run.config, reference) else None


def _same_recipe(cfg: RunConfig, reference: RunConfig) -> bool:
    def recipe(c: RunConfig) -> tuple:
        t = c.train
        return (
            c.data.dataset,
            c.data.view,
            c.data.train_limit,
            c.data.validation,  # images held out of training: fewer to train on
            c.model,
            (t.iters, t.epochs, t.batch_size, t.optimizer, t.lr, t.momentum, t.weight_decay),
            (t.clip_grad, t.schedule, t.warmup),
        )

    return cfg.data.dataset == "mnist" and recipe(cfg) == recipe(reference)


# --------------------------------------------------------------------------- rendering


def table_rows(result: ComparisonResult) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the summary table, as strings."""
    many = any(r.runs > 1 for r in result.rows)
    published = any(r.published is not None for r in result.rows)
    best = result.best
    head = [short_field(a) for a in result.axes]
    head += ["runs", f"{result.metric} (mean ± std)" if many else result.metric]
    if many:
        head += ["median", "range"]
    head += ["parameters", "time/run", "samples/s"]
    if published:
        head.append("published")
    body = []
    for row in result.rows:
        cells = [str(row.cell[a]) for a in result.axes]
        runs = str(row.runs)
        if row.diverged:
            runs += f" ({row.diverged} diverged)"
        if row.stopped:
            runs += f" ({row.stopped} stopped early)"
        if not row.count:
            value = "diverged"
        elif many and row.count > 1:
            value = f"{row.mean:.2f} ± {row.std:.2f}"
        else:
            value = f"{row.mean:.2f}"
        if row is best and len(result.rows) > 1:
            value += " *"
        cells += [runs, value]
        if many:
            cells += [
                f"{row.median:.2f}" if row.count else "-",
                f"{row.low:.2f}-{row.high:.2f}" if row.count else "-",
            ]
        cells += [f"{row.parameters:,}" if row.parameters else "-", f"{row.seconds:.1f} s"]
        cells.append(f"{row.samples_per_sec:,.0f}" if row.samples_per_sec else "-")  # all diverged
        if published:
            cells.append(f"{row.published:.2f}" if row.published is not None else "-")
        body.append(cells)
    return head, body


def render_text(result: ComparisonResult) -> str:
    head, body = table_rows(result)
    widths = [max(len(x) for x in column) for column in zip(head, *body)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(cells, widths)) for cells in body]
    return "\n".join(lines)


def render_markdown(result: ComparisonResult) -> str:
    head, body = table_rows(result)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    seeds = ", ".join(map(str, result.seeds))
    note = f"\n{result.metric}: final value of each run; seeds {seeds}; * = best mean.\n"
    return f"# Comparison {result.name}\n\n" + "\n".join(lines) + "\n" + note


def render_csv(result: ComparisonResult) -> str:
    """One line per run (not per row), so any other summary can be computed from it."""
    out = io.StringIO()
    writer = csv.writer(out)
    metric_names = sorted({k for run in result.runs for k in run.metrics})
    writer.writerow(
        [*result.axes, "seed", "run_id", "status", *metric_names]
        + ["parameters", "wall_time", "samples_per_sec"]
    )
    for run in result.runs:
        writer.writerow(
            [*(run.cell[a] for a in result.axes), run.seed, run.run_id, run.status]
            + [run.metrics.get(k, "") for k in metric_names]
            + [run.parameters, f"{run.wall_time:.3f}", f"{run.samples_per_sec:.1f}"]
        )
    return out.getvalue()


def to_json(result: ComparisonResult) -> dict[str, Any]:
    """The comparison as plain data; a mean of no runs (all diverged) is null, since NaN is
    not JSON and strict readers (jq, JavaScript) refuse it."""
    best = result.best
    return json_safe(
        {
            "name": result.name,
            "source": result.source,
            "metric": result.metric,
            "higher_is_better": result.higher_is_better,
            "axes": result.axes,
            "seeds": result.seeds,
            "best": asdict(best) if best is not None else None,
            "rows": [asdict(r) for r in result.rows],
            "runs": [asdict(r) for r in result.runs],
            "files": {k: str(v) for k, v in result.files.items()},
        }
    )


def write_tables(result: ComparisonResult) -> None:
    """comparison.json (everything), table.md (the summary), runs.csv (every run)."""
    folder: Path = result.folder
    result.files = {
        "json": folder / "comparison.json",
        "markdown": folder / "table.md",
        "csv": folder / "runs.csv",
    }
    atomic_write_text(result.files["markdown"], render_markdown(result))
    atomic_write_text(result.files["csv"], render_csv(result))
    atomic_write_text(result.files["json"], json_text(to_json(result)) + "\n")
