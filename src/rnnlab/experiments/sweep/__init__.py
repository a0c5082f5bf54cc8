"""Hyper-parameter sweeps: many ordinary rnnlab runs chosen by an Optuna study.

A sweep is a base config (a preset, a config file or a shipped sweep definition), a search
space (one `FIELD=SPEC` per swept field) and an objective measured on validation data, never
on test data while the task has validation data (each task declares which data each metric is
measured on: Task.metric_splits; a task without any, such as seq2seq or hihell, is tuned on its
test or training figures, and every line that shows the objective says so). Each trial is
one `rnnlab.api.train` run filed under the group `sweep:STUDY` in the results store, so every
trial can be listed, evaluated and resumed like any other run.

The study lives in one storage per study (an SQLite file under RUNS/sweeps/STUDY/ unless
`storage` names another Optuna URL), which is what makes a sweep resumable: the same command
continues it, counts what has finished, never re-runs it, and first retries the parameters of
a trial that was interrupted, continuing its run from the checkpoint.

Trials are driven with Optuna's ask/tell interface rather than `study.optimize`, because the
sweep has to decide itself what an interrupted, diverged or stale trial means.

Modules, one job each: `space` (the FIELD=SPEC grammar), `definitions` (sweep files),
`plan` (a sweep resolved before it runs), `checks` (argument types, the study's files and the
base config's data, checked before the first trial), `study` (the Optuna study, sampler and pruner),
`trial` (one trial's run), `recovery` (interrupted and stale trials), `runner` (the loop),
`results` (records and files), `summary` (printed lines), `text` (formatting). Optuna is
imported only when a sweep runs.
"""

from __future__ import annotations

from rnnlab.experiments.sweep.definitions import (
    definition_names,
    list_definitions,
    load_definition,
    sweeps,
)
from rnnlab.experiments.sweep.plan import (
    CLASSIFY_VALIDATION,
    DEFAULT_TRIALS,
    SAMPLERS,
    SweepPlan,
    metric_direction,
    plan_sweep,
)
from rnnlab.experiments.sweep.results import SweepResult, TrialRecord
from rnnlab.experiments.sweep.runner import run_sweep, sweep
from rnnlab.experiments.sweep.space import Param, parse_param, parse_space
from rnnlab.experiments.sweep.summary import summary_lines

__all__ = [
    "CLASSIFY_VALIDATION",
    "DEFAULT_TRIALS",
    "SAMPLERS",
    "Param",
    "SweepPlan",
    "SweepResult",
    "TrialRecord",
    "definition_names",
    "list_definitions",
    "load_definition",
    "metric_direction",
    "parse_param",
    "parse_space",
    "plan_sweep",
    "run_sweep",
    "summary_lines",
    "sweep",
    "sweeps",
]
