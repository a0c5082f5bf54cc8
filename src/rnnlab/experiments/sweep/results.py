"""What a sweep found: one record per trial, the result, and its files (sweep.json, best.toml)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rnnlab.config import apply_overrides
from rnnlab.experiments.sweep.plan import SweepPlan
from rnnlab.experiments.sweep.text import masked_url, metric_text, params_text, split_text
from rnnlab.results.atomic import atomic_write_text
from rnnlab.results.jsontext import json_text


@dataclass
class TrialRecord:
    """One trial as the sweep reports it."""

    number: int
    state: str  # complete | pruned | diverged | interrupted | failed | running | waiting
    params: dict[str, Any]
    value: float | None
    run_id: int | None
    metrics: dict[str, float]
    duration: float | None
    note: str = ""
    checkpoint: str | None = None
    retry_of: int | None = None
    baseline: bool = False
    # an earlier trial of the same parameters whose result this one reuses (not trained again)
    duplicate_of: int | None = None
    # valid settings of this trial's config that do nothing (train's start-of-run notes;
    # trials train quietly, so the sweep says each the first time a trial brings it)
    settings_notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def test_metrics(self) -> dict[str, float]:
        tests = [(k, v) for k, v in self.metrics.items() if k.startswith("test_")]
        return dict(sorted(tests, key=lambda kv: "acc" not in kv[0]))  # accuracy first

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "test_metrics": self.test_metrics}


@dataclass
class SweepResult:
    """What a sweep found: the best combination, every trial, and where the files are."""

    study: str
    metric: str
    direction: str
    best_params: dict[str, Any] | None
    best_value: float | None
    best_run_id: int | None
    best_trial: int | None
    best_test_metrics: dict[str, float]
    trials: list[TrialRecord]
    paths: dict[str, str]
    target: int
    space: dict[str, str] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)
    split: str = "validation"  # the data the metric is measured on: validation|test|training

    @property
    def finished(self) -> int:
        return sum(counts_toward_target(t) for t in self.trials)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["trials"] = [t.to_dict() for t in self.trials]
        out["finished"] = self.finished
        return out


def counts_toward_target(record: TrialRecord) -> bool:
    """Trials that count toward --trials: finished ones. Interrupted trials are retried (the
    retry counts), failures for other reasons are not counted and not retried."""
    return record.state in ("complete", "pruned", "diverged")


def trial_record(optuna: Any, t: Any) -> TrialRecord:
    """An Optuna trial as a `TrialRecord`, with why it failed read from its attributes."""
    attrs = t.user_attrs
    states = optuna.trial.TrialState
    state = {
        states.COMPLETE: "complete",
        states.PRUNED: "pruned",
        states.RUNNING: "running",
        states.WAITING: "waiting",
    }.get(t.state)
    if state is None:  # FAIL: why is in the attributes
        why = attrs.get("status")
        state = why if why in ("diverged", "interrupted") else "failed"
    duration = attrs.get("wall_time")
    if duration is None and t.duration is not None:
        duration = t.duration.total_seconds()
    return TrialRecord(
        number=t.number,
        state=state,
        params=dict(t.params),
        value=t.value,
        run_id=attrs.get("run_id"),
        metrics=dict(attrs.get("metrics") or {}),
        duration=duration,
        note=attrs.get("note", ""),
        checkpoint=attrs.get("checkpoint"),
        retry_of=attrs.get("retry_of"),
        baseline=bool(attrs.get("baseline")),
        duplicate_of=attrs.get("duplicate_of"),
        settings_notes=list(attrs.get("settings_notes") or []),
    )


def count_finished(optuna: Any, study: Any) -> int:
    """The study's trials that count toward --trials, those of earlier calls included."""
    return sum(
        counts_toward_target(trial_record(optuna, t)) for t in study.get_trials(deepcopy=False)
    )


def write_files(optuna: Any, study: Any, plan: SweepPlan) -> SweepResult:
    """sweep.json (every trial) and best.toml (a config that re-runs the best combination),
    written atomically after every trial, so a killed sweep still leaves both."""
    from rnnlab.config import to_toml

    records = [trial_record(optuna, t) for t in study.get_trials(deepcopy=False)]
    complete = [r for r in records if r.state == "complete"]
    best = None
    if complete:
        pick = max if plan.direction == "maximize" else min
        best = pick(complete, key=lambda r: r.value)
    summary_path = plan.folder / "sweep.json"
    best_path = plan.folder / "best.toml"
    paths = {
        "folder": str(plan.folder),
        "runs": str(plan.runs_dir),  # the runs folder its trials' runs are recorded in
        "summary": str(summary_path),
        "storage": masked_url(plan.storage),
    }
    if best is not None:
        cfg = plan.config.copy()
        apply_overrides(cfg, best.params)
        cfg.name = f"{plan.study}-best"
        tests = ", ".join(f"{k} {metric_text(v, k)}" for k, v in best.test_metrics.items())
        header = (
            f"# The best combination of sweep '{plan.study}': trial #{best.number} "
            f"(run {best.run_id}), {plan.metric} {metric_text(best.value, plan.metric)} "
            f"on {split_text(plan.split)}"
            + (f", {tests} on test" if tests else "")
            + f".\n# Swept: {params_text(best.params)}\n"
            f"# Re-run it: rnnlab train --config {best_path}\n"
        )
        atomic_write_text(best_path, header + to_toml(cfg))
        paths["best"] = str(best_path)
    else:
        # a best.toml of an earlier study of this name (its optuna.db moved aside) is not
        # this study's best
        best_path.unlink(missing_ok=True)
    result = SweepResult(
        study=plan.study,
        metric=plan.metric,
        direction=plan.direction,
        best_params=dict(best.params) if best else None,
        best_value=best.value if best else None,
        best_run_id=best.run_id if best else None,
        best_trial=best.number if best else None,
        best_test_metrics=best.test_metrics if best else {},
        trials=records,
        paths=paths,
        target=plan.trials,
        space={k: p.spec for k, p in plan.space.items()},
        notes=list(plan.notes),
        split=plan.split,
    )
    document = {
        **result.to_dict(),
        "sampler": plan.sampler,
        "sampler_seed": plan.sampler_seed,
        "prune": plan.prune,
        "source": plan.source,
        "config": plan.config.to_dict(),
        "written": datetime.now().isoformat(timespec="seconds"),
    }
    atomic_write_text(summary_path, json_text(document) + "\n")
    return result


def saved_objective(runs_dir: Path, study: str) -> dict[str, str] | None:
    """The objective a saved sweep tuned on ({"metric", "direction", "split"}), read from its
    sweep.json: what a report of its runs shows by default, so that its "best" is the one the
    sweep chose, not one picked on test data. None when the file is missing or unreadable."""
    import json

    path = Path(runs_dir) / "sweeps" / study / "sweep.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        found = {key: data[key] for key in ("metric", "direction", "split")}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not all(isinstance(v, str) for v in found.values()):
        return None
    return found
