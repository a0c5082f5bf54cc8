"""The lines a sweep prints: one per trial as it finishes, and the report at the end."""

from __future__ import annotations

import shlex
from pathlib import Path

from rnnlab.experiments.sweep.plan import SweepPlan
from rnnlab.experiments.sweep.results import SweepResult, TrialRecord
from rnnlab.experiments.sweep.text import (
    metric_text,
    params_text,
    short_names,
    split_text,
    value_text,
)


def summary_lines(result: SweepResult, top: int = 10) -> list[str]:
    """The end-of-sweep report: the best trials, the best combination, the files."""
    # a repeat of earlier parameters reuses that trial's result: one row for both
    ranked = [
        t
        for t in result.trials
        if t.state in ("complete", "pruned") and t.value is not None and t.duplicate_of is None
    ]
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
    repeats = sum(t.duplicate_of is not None for t in result.trials)
    if repeats:
        counted += (
            f"; {repeats} repeated an earlier trial's parameters and reused its result "
            "(not trained again)"
        )
    lines.append(f"Sweep '{result.study}': {counted}")
    if ranked:
        names = short_names(list(result.space) or list(ranked[0].params))
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
            f"Top {shown} of {len(ranked)} by {result.metric} ({result.direction}, "
            f"{split_text(result.split)})"
            f"{pruned}:"
        )
        lines.append("  " + " ".join(f"{c:>{w}}" for c, w in cols))
        for t in ranked[:top]:
            cells = [f"#{t.number}", t.state, metric_text(t.value, result.metric)]
            if test_key:
                cells.append(metric_text(t.metrics.get(test_key), test_key))
            cells += [value_text(t.params.get(f)) for f in names]
            cells.append(f"{t.duration:.1f}s" if t.duration is not None else "-")
            lines.append("  " + " ".join(f"{c:>{w}}" for c, (_, w) in zip(cells, cols)))
    if result.best_params is not None:
        params = " ".join(f"{k}={value_text(v)}" for k, v in result.best_params.items())
        lines.append(
            f"Best combination: trial #{result.best_trial} (run {result.best_run_id}): {params}"
        )
        tests = ", ".join(
            f"{k} {metric_text(v, k)}"
            for k, v in result.best_test_metrics.items()
            if k != result.metric
        )
        value = metric_text(result.best_value, result.metric)
        lines.append(f"  {result.metric} {value} on {_objective_words(result.split, tests)}")
        base = next((t for t in result.trials if t.baseline and t.state == "complete"), None)
        if base is not None and base.number == result.best_trial:
            lines.append("  that is the baseline: no other trial beat the config's own values")
        elif base is not None:
            tests = ", ".join(f"{k} {metric_text(v, k)}" for k, v in base.test_metrics.items())
            lines.append(
                f"  baseline (trial #{base.number}, the config's own values): {result.metric} "
                f"{metric_text(base.value, result.metric)}" + (f", {tests}" if tests else "")
            )
    else:
        lines.append("No trial has completed yet, so there is no best combination.")
    paths = result.paths
    lines.append(f"Files: {paths['summary']}" + (f", {paths['best']}" if "best" in paths else ""))
    runs_flag = _runs_dir_flag(Path(paths["runs"])) if "runs" in paths else ""
    if "best" in paths:
        lines.append(f"  re-run the best: rnnlab train --config {paths['best']}{runs_flag}")
    lines.append(
        f"  its runs: rnnlab runs --group sweep:{result.study}{runs_flag}; "
        f"study: {paths['storage']}"
    )
    return lines


def _runs_dir_flag(runs_dir: Path) -> str:
    """' --runs-dir R' where the sweep's runs folder is not the one a bare command reads, so
    the commands printed find its runs."""
    from rnnlab.data.paths import default_runs_dir

    if runs_dir.resolve() == default_runs_dir().resolve():
        return ""
    return f" --runs-dir {shlex.quote(str(runs_dir))}"


def _objective_words(split: str, tests: str) -> str:
    """The rest of the best combination's line: where its objective was measured, honestly,
    and the test figures beside it."""
    if split == "test":
        # tuned on this very test set: its best value is biased upward, and no other figure
        # of the sweep is a fair estimate either
        return (
            "test (the objective: the task has no validation data, so the sweep tuned on test "
            "and this best value is optimistic; confirm it on data the sweep never saw)"
            + (f"; {tests} on the same test set" if tests else "")
        )
    if split == "training":
        return (
            "the training data (the objective: the task has no validation data, so this is how "
            "well the combination fits, not how it generalizes)"
            + (f"; {tests} on test" if tests else "")
        )
    return "validation (the objective)" + (
        f"; {tests} on test (reported, never tuned on)" if tests else ""
    )


def trial_line(record: TrialRecord, done: int, plan: SweepPlan, best: bool) -> str:
    """The line printed when a trial ends; `done` counts finished trials, this one included."""
    head = f"Trial {done}/{plan.trials} (#{record.number}"
    if record.retry_of is not None:
        head += f", resumes #{record.retry_of}"
    if record.baseline:
        head += ", baseline"
    if record.duplicate_of is not None:
        head += f", repeats #{record.duplicate_of}: not trained again"
    parts = [head + "): " + params_text(record.params, short=True)]
    if record.state == "complete":
        parts.append(f"{plan.metric} {metric_text(record.value, plan.metric)}")
    elif record.state == "pruned":
        parts.append(f"{record.note} ({plan.metric} {metric_text(record.value, plan.metric)})")
    else:
        parts.append(f"{record.state}: {record.note}")
    test = record.metrics.get("test_acc")
    if test is not None and record.state in ("complete", "pruned"):
        parts.append(f"test_acc {metric_text(test, 'test_acc')}")
    if record.duration is not None:
        parts.append(f"{record.duration:.1f} s")
    if best:
        parts.append("best so far")
    return " | ".join(parts)
