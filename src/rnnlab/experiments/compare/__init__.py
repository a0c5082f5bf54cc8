"""Comparisons: a grid of configurations x seeds, trained and summarised in one table.

A comparison has a name, and its runs are filed in the results store under the group
"compare:NAME". The store, not a side file, says what is done: a planned run whose exact
config is already completed there is not trained again, one that was interrupted (Ctrl-C,
a killed process) resumes from its checkpoint, and a changed config (more iterations, say)
is a new run. So re-running the command that was stopped finishes the grid, and re-running
a finished one only rebuilds its tables.

Modules: `studies` (the shipped comparisons), `axes` (grid and seeds as given), `plan` (every
run, validated), `stored` (what the store already holds), `workers` (training the runs),
`lock` (one process trains a comparison at a time) and `run` (`compare` itself and its
result).
"""

from rnnlab.experiments.compare.plan import (
    PRESET_AXIS,
    ComparisonPlan,
    PlannedRun,
    cell_label,
    plan_comparison,
    short_field,
)
from rnnlab.experiments.compare.run import (
    ComparisonInterrupted,
    ComparisonResult,
    ComparisonTerminated,
    RunOutcome,
    compare,
)
from rnnlab.experiments.compare.stored import configuration_key
from rnnlab.experiments.compare.studies import Study, load_study, studies, study_names

__all__ = [
    "PRESET_AXIS",
    "ComparisonInterrupted",
    "ComparisonPlan",
    "ComparisonResult",
    "ComparisonTerminated",
    "PlannedRun",
    "RunOutcome",
    "Study",
    "cell_label",
    "compare",
    "configuration_key",
    "load_study",
    "plan_comparison",
    "short_field",
    "studies",
    "study_names",
]
