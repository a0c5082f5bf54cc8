"""One trial: an rnnlab run with the sampled parameters, reported to Optuna as it trains."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

from rnnlab.config import apply_overrides
from rnnlab.errors import ConfigError, RnnlabError, TrainingDiverged, TrainingInterrupted
from rnnlab.experiments.sweep.plan import SweepPlan
from rnnlab.experiments.sweep.recovery import find_run, saved_checkpoint
from rnnlab.experiments.sweep.results import TrialRecord, trial_record, write_files
from rnnlab.experiments.sweep.text import params_text
from rnnlab.tasks import get_task_class


class _Watcher:
    """The `on_evaluate` hook of a trial's run: reports the objective to Optuna after every
    evaluation, and stops the run when the pruner says so."""

    def __init__(
        self,
        trial: Any,
        plan: SweepPlan,
        final_iteration: int | None,
        on_first: Any,
    ) -> None:
        self.trial, self.plan = trial, plan
        self.final_iteration = final_iteration
        self.on_first = on_first
        self.row: dict[str, Any] | None = None
        self.missing: list[str] | None = None
        self.pruned_at: int | None = None

    def __call__(self, iteration: int, row: dict[str, Any]) -> bool | None:
        if self.row is None:
            self.on_first()
        self.row = row
        value = row.get(self.plan.metric)
        if value is None:
            self.missing = sorted(k for k in row if k not in ("iteration", "wall_time"))
            return True  # stop: the objective cannot be measured
        self.trial.report(float(value), iteration)
        last = self.final_iteration is not None and iteration >= self.final_iteration
        if self.plan.prune and not last and self.trial.should_prune():
            self.pruned_at = iteration
            return True
        return None


def run_trial(optuna: Any, study: Any, store: Any, plan: SweepPlan) -> TrialRecord:
    """Ask the study for parameters (or a queued retry), train that run and tell the study how
    it ended; an interrupted or failed trial raises once the study knows."""
    from rnnlab import api

    fail = optuna.trial.TrialState.FAIL
    trial = study.ask()
    trial.set_user_attr("host", socket.gethostname())
    trial.set_user_attr("pid", os.getpid())
    params = {name: p.suggest(trial) for name, p in plan.space.items()}
    attrs = dict(trial.user_attrs)
    run_name = attrs.get("run_name") or f"{plan.study}-t{trial.number:03d}"
    trial.set_user_attr("run_name", run_name)
    resume = attrs.get("resume_checkpoint")
    if resume and not Path(resume).is_file():
        resume = None
    if resume is None and attrs.get("run_id") is not None:
        # the checkpoint is gone since the retry was queued: a new run, found by its name
        attrs.pop("run_id")
        trial.set_user_attr("run_id", None)
    if resume is not None and attrs.get("retry_of") is not None:
        # the pruner judges the whole curve: carry over what the run reported before
        old = study.get_trials(deepcopy=False)[attrs["retry_of"]]
        for step, value in sorted(old.intermediate_values.items()):
            trial.report(value, step)

    if resume is None and attrs.get("retry_of") is None:
        earlier = _earlier_same(optuna, study, trial.number, params)
        if earlier is not None:
            return _reuse(optuna, study, trial, earlier)

    started = time.perf_counter()
    cfg = plan.config.copy()
    cfg.name = run_name
    try:
        apply_overrides(cfg, params)
    except ConfigError as exc:
        trial.set_user_attr("status", "error")
        trial.set_user_attr("note", str(exc))
        study.tell(trial, state=fail)
        raise ConfigError(f"trial #{trial.number} ({params_text(params)}): {exc}") from None
    trial.set_user_attr("settings_notes", get_task_class(cfg.task).config_notes(cfg))
    final = cfg.train.iters if cfg.train.epochs == 0 else None

    def remember_run() -> None:
        run = find_run(store, plan.group, {"run_name": run_name, **attrs}, trial.datetime_start)
        if run is not None:
            trial.set_user_attr("run_id", run["id"])
            if watcher.final_iteration is None and run.get("total_iterations"):
                # a length in epochs: the trainer has recorded the iterations it makes, and
                # the last evaluation must not prune a run that has trained its whole budget
                watcher.final_iteration = int(run["total_iterations"])

    watcher = _Watcher(trial, plan, final, remember_run)
    common = {
        "data_dir": plan.data_dir,
        "runs_dir": plan.runs_dir,
        "group": plan.group,
        "on_evaluate": watcher,
        "verbose": False,
    }
    try:
        if resume is not None:
            result = api.train(resume=resume, **common)
        else:
            base = plan.config.copy()
            base.name = run_name
            result = api.train(base, overrides=params, **common)
    except TrainingDiverged as exc:
        trial.set_user_attr("run_id", exc.run_id)
        trial.set_user_attr("status", "diverged")
        trial.set_user_attr("note", _first_clause(str(exc)))
        trial.set_user_attr("wall_time", time.perf_counter() - started)
        study.tell(trial, state=fail)
        return trial_record(optuna, study.get_trials(deepcopy=False)[trial.number])
    except (TrainingInterrupted, KeyboardInterrupt):
        run = find_run(store, plan.group, {**attrs, **trial.user_attrs}, trial.datetime_start)
        checkpoint = saved_checkpoint(run)
        if run is not None:  # api.train has recorded how its run ended
            trial.set_user_attr("run_id", run["id"])
        trial.set_user_attr("status", "interrupted")
        trial.set_user_attr("checkpoint", checkpoint)
        trial.set_user_attr("note", "interrupted by the user")
        study.tell(trial, state=fail)
        write_files(optuna, study, plan)
        saved = f"its run is saved in {checkpoint}" if checkpoint else "no checkpoint was saved"
        raise TrainingInterrupted(
            f"sweep '{plan.study}' interrupted in trial #{trial.number} ({params_text(params)}); "
            f"{saved}; run the same command again to continue: that trial is resumed first"
        ) from None
    except BaseException as exc:
        trial.set_user_attr("status", "error")
        trial.set_user_attr("note", " ".join(str(exc).split())[:300])
        study.tell(trial, state=fail)
        if isinstance(exc, RnnlabError):
            raise type(exc)(f"trial #{trial.number} ({params_text(params)}): {exc}") from None
        raise

    trial.set_user_attr("run_id", result.run_id)
    trial.set_user_attr("checkpoint", str(Path(result.checkpoint).resolve()))
    trial.set_user_attr("iteration", result.iteration)
    trial.set_user_attr("wall_time", result.wall_time)
    metrics = dict(result.metrics) if result.status != "stopped" else _metrics_of(watcher.row)
    trial.set_user_attr("metrics", metrics)
    if watcher.missing is not None:
        trial.set_user_attr("status", "error")
        trial.set_user_attr("note", f"no metric {plan.metric}")
        study.tell(trial, state=fail)
        raise ConfigError(
            f"--metric {plan.metric}: a {plan.config.task} run reports no such metric; "
            f"available: {', '.join(watcher.missing)} (choose a validation one)"
        )
    if watcher.pruned_at is not None:
        trial.set_user_attr("status", "pruned")
        trial.set_user_attr("note", f"pruned at iteration {watcher.pruned_at}")
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    else:
        trial.set_user_attr("status", "complete")
        study.tell(trial, float(metrics[plan.metric]))
    return trial_record(optuna, study.get_trials(deepcopy=False)[trial.number])


def _earlier_same(optuna: Any, study: Any, number: int, params: dict[str, Any]) -> Any:
    """The first earlier trial of these very parameters whose outcome a new run would only
    repeat (the same config and seed train to the same figures): a complete or diverged one.
    Not a pruned one: whether a run is pruned depends on the trials finished before it."""
    states = optuna.trial.TrialState
    for t in study.get_trials(deepcopy=False):
        if t.number == number or t.params != params:
            continue
        diverged = t.state == states.FAIL and t.user_attrs.get("status") == "diverged"
        if t.state == states.COMPLETE or diverged:
            return t
    return None


def _reuse(optuna: Any, study: Any, trial: Any, earlier: Any) -> TrialRecord:
    """Tell the study an earlier trial's result for a repeat of its parameters, instead of
    training the same run again (samplers draw repeats from a space of few combinations)."""
    old = earlier.user_attrs
    for key in ("run_id", "checkpoint", "iteration", "metrics", "settings_notes"):
        if key in old:
            trial.set_user_attr(key, old[key])
    note = f"same parameters as trial #{earlier.number}, whose result is reused (not trained again)"
    if old.get("note"):
        note += f": {old['note']}"
    trial.set_user_attr("duplicate_of", earlier.number)
    trial.set_user_attr("status", old.get("status"))
    trial.set_user_attr("note", note)
    trial.set_user_attr("wall_time", 0.0)
    if earlier.state == optuna.trial.TrialState.COMPLETE:
        study.tell(trial, earlier.value)
    else:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    return trial_record(optuna, study.get_trials(deepcopy=False)[trial.number])


def _metrics_of(row: dict[str, Any] | None) -> dict[str, float]:
    return {k: v for k, v in (row or {}).items() if k not in ("iteration", "wall_time")}


def _first_clause(text: str) -> str:
    return text.split(";")[0]
