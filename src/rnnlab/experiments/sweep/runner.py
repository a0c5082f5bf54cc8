"""Running a sweep: the trials a plan still needs, one after another, until it has enough."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rnnlab.config import RunConfig
from rnnlab.errors import RnnlabError
from rnnlab.experiments.sweep.checks import check_base_data, check_study_files
from rnnlab.experiments.sweep.plan import SAMPLER_SEEDS, SweepPlan, plan_sweep
from rnnlab.experiments.sweep.recovery import enqueue_retries, recover_stale
from rnnlab.experiments.sweep.results import (
    SweepResult,
    count_finished,
    counts_toward_target,
    trial_record,
    write_files,
)
from rnnlab.experiments.sweep.space import space_size
from rnnlab.experiments.sweep.study import best_value, import_optuna, make_sampler, open_study
from rnnlab.experiments.sweep.summary import summary_lines, trial_line
from rnnlab.experiments.sweep.trial import run_trial


def sweep(
    source: RunConfig | str | Path | dict | None = None,
    *,
    space: dict[str, Any] | list[str] | None = None,
    definition: str | None = None,
    overrides: dict[str, Any] | list[str] | None = None,
    trials: int | None = None,
    timeout: float | None = None,
    sampler: str | None = None,
    prune: bool | None = None,
    metric: str | None = None,
    study: str | None = None,
    storage: str | None = None,
    sampler_seed: int | None = None,
    baseline: bool | None = None,
    data_dir: str | Path | None = None,
    runs_dir: str | Path | None = None,
    verbose: bool = True,
) -> SweepResult:
    """Run (or continue) a sweep and return what it found.

    >>> import rnnlab
    >>> r = rnnlab.sweep("sheet-rnn", space={"train.lr": "log:1e-4:1e-1"}, trials=8)
    >>> r.best_params, r.best_value, r.best_test_metrics

    `source` is a preset name, a TOML path, a dict or a RunConfig; `definition` names a
    shipped sweep instead (src/rnnlab/sweeps/NAME.toml). `space` maps fields to SPEC strings:
    `log:LOW:HIGH`, `float:LOW:HIGH[:STEP]`, `int:LOW:HIGH[:STEP]` or a list `a,b,c`.
    `trials` counts the study's finished trials, those of earlier calls included, so calling
    again with the same `study` continues it. Raises TrainingInterrupted after Ctrl-C (the
    trial's run is saved and is resumed first by the next call).
    """
    plan = plan_sweep(
        source,
        definition=definition,
        space=space,
        overrides=overrides,
        trials=trials,
        timeout=timeout,
        sampler=sampler,
        prune=prune,
        metric=metric,
        study=study,
        storage=storage,
        sampler_seed=sampler_seed,
        baseline=baseline,
        runs_dir=runs_dir,
        data_dir=data_dir,
    )
    return run_sweep(plan, verbose=verbose)


def run_sweep(plan: SweepPlan, *, verbose: bool = True) -> SweepResult:
    """Run the trials a plan still needs, one after another; see `sweep`."""
    optuna = import_optuna()
    from rnnlab.results.store import ResultsStore

    # before anything is written or printed (plan_sweep checked the files too, but a plan may
    # be run a while after it was made)
    check_study_files(plan.folder, plan.storage, plan.storage_given)
    check_base_data(plan)
    try:
        plan.folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RnnlabError(
            f"cannot create the sweep folder {plan.folder} ({exc}); choose a writable --runs-dir"
        ) from None
    store = ResultsStore(plan.runs_dir)
    study = open_study(optuna, plan)
    existing = len(study.trials)

    stale = recover_stale(optuna, study, store, plan)
    retries = enqueue_retries(optuna, study)
    if existing == 0 and plan.baseline:
        study.enqueue_trial(plan.baseline, user_attrs={"baseline": True})

    say = _printer(verbose)
    for line in plan.describe(fresh=existing == 0):
        say(line)
    done = count_finished(optuna, study)
    if existing:
        say(f"Continuing: {done} of {plan.trials} trials already finished in this study")
    for number in stale:
        say(f"Trial #{number} was left running by a process that ended; it is retried first")
    for old, checkpoint in retries:
        where = f"from {checkpoint}" if checkpoint else "from the start (no checkpoint was saved)"
        say(f"Trial #{old} was interrupted; its parameters are tried again first, resuming {where}")

    started = time.monotonic()
    ran = 0
    said: set[str] = set()  # the settings notes said so far
    while True:
        done = count_finished(optuna, study)
        # trials other workers are running now count too, so parallel workers sharing a study
        # stop at --trials together instead of each running its own --trials
        running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        if done + len(running) >= plan.trials:
            break
        if ran and plan.timeout is not None and time.monotonic() - started >= plan.timeout:
            say(f"Time limit of {plan.timeout:g} s reached; no new trial is started")
            break
        waiting = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))
        if plan.sampler == "grid" and not waiting and study.sampler.is_exhausted(study):
            break
        if plan.sampler != "grid" and not waiting and _space_tried(optuna, study, plan):
            # further draws could only repeat a combination (and reuse its result)
            size = space_size(plan.space)
            every = "The one combination has" if size == 1 else f"All {size} combinations have"
            say(f"{every} been tried; no new trial is started")
            break
        if plan.sampler != "grid":
            # A sampler per trial, seeded with the seed plus the number of trials before it:
            # a continued study does not draw its first trials again, "2 trials, then 1 more"
            # draws what "3 trials" draws, and workers sharing a study draw different trials.
            # (A grid keeps one seed: it fixes the order of the grid.) Mod 2**32, the seeds
            # NumPy takes: a seed near the top wraps to 0 instead of failing at trial #1.
            seed = (plan.sampler_seed + len(study.trials)) % SAMPLER_SEEDS
            study.sampler = make_sampler(optuna, plan, seed)
        best_before = best_value(optuna, study)
        record = run_trial(optuna, study, store, plan)
        ran += 1
        better = record.state == "complete" and (
            best_before is None
            or (record.value - best_before) * (1 if plan.direction == "maximize" else -1) > 0
        )
        for note in record.settings_notes:
            if note not in said:
                said.add(note)
                say(f"{note} (first in trial #{record.number})")
        say(trial_line(record, count_finished(optuna, study), plan, better))
        write_files(optuna, study, plan)

    result = write_files(optuna, study, plan)
    if verbose:
        for line in summary_lines(result):
            say(line)
    return result


def _space_tried(optuna: Any, study: Any, plan: SweepPlan) -> bool:
    """Every combination of a finite space has a finished trial."""
    size = space_size(plan.space)
    if size is None:
        return False
    tried = {
        tuple(sorted(t.params.items()))
        for t in study.get_trials(deepcopy=False)
        if counts_toward_target(trial_record(optuna, t))
    }
    return len(tried) >= size


def _printer(verbose: bool) -> Any:
    def say(text: str) -> None:
        if verbose:
            print(text, flush=True)

    return say
