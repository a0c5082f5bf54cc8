"""The Optuna study: opened from its storage, checked to be the same sweep, given its sampler
and pruner."""

from __future__ import annotations

import json
import time
import warnings
from typing import Any

from rnnlab.errors import ConfigError, RnnlabError
from rnnlab.experiments.sweep.checks import sqlite_file
from rnnlab.experiments.sweep.plan import SweepPlan
from rnnlab.experiments.sweep.text import masked_url

# Fields of a trial's run that the study compares between calls; device and threads may differ
# between machines sharing a study, the run name is per trial.
_IGNORED_FOR_IDENTITY = ("name", "device", "threads")
_OPEN_TRIES = 5  # opening a study storage, for workers started at the same moment


def import_optuna() -> Any:
    """Optuna, imported only when a sweep runs (it is not needed to import rnnlab)."""
    try:
        import optuna
    except ImportError:
        raise RnnlabError(
            "rnnlab sweep needs Optuna: install optuna (pip install optuna)"
        ) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def open_study(optuna: Any, plan: SweepPlan) -> Any:
    """The plan's study, created in its storage or loaded from it (then checked to be the same
    sweep), with the plan's sampler and pruner."""
    study = _created_or_loaded(optuna, plan)
    _check_same_study(study, plan)
    study.sampler = make_sampler(optuna, plan, plan.sampler_seed)
    study.pruner = _make_pruner(optuna, plan)
    return study


def _created_or_loaded(optuna: Any, plan: SweepPlan) -> Any:
    kwargs: dict[str, Any] = {}
    if plan.storage.startswith("sqlite:"):
        # Workers sharing one SQLite file wait for each other's writes instead of failing with
        # "database is locked" (one study per file keeps that contention small).
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    try:
        return _with_retries(lambda: _create_or_load(optuna, plan, kwargs))
    except ImportError as exc:
        raise RnnlabError(
            f"cannot open the study storage {masked_url(plan.storage)}: {exc}; install the "
            "database driver (e.g. pip install psycopg2-binary for postgresql://)"
        ) from None
    except Exception as exc:  # a bad URL, an unreachable server, an unwritable file
        raise _open_error(plan, exc) from None


def _create_or_load(optuna: Any, plan: SweepPlan, kwargs: dict[str, Any]) -> Any:
    storage = optuna.storages.RDBStorage(plan.storage, **kwargs)
    return optuna.create_study(
        storage=storage, study_name=plan.study, direction=plan.direction, load_if_exists=True
    )


def _with_retries(open_it: Any, tries: int = _OPEN_TRIES) -> Any:
    """`open_it()`, tried again after a race between workers started together on a new study:
    the first creates the storage's tables, the others fail inserting them a second time
    (IntegrityError), which is no fault of the file. (A locked SQLite file is waited for
    already: the connection's timeout.)"""
    for attempt in range(tries):
        try:
            return open_it()
        except Exception as exc:
            if attempt == tries - 1 or not _a_race(exc):
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _a_race(exc: Exception) -> bool:
    return type(exc).__name__ == "IntegrityError"  # SQLAlchemy's, without importing it


def _open_error(plan: SweepPlan, exc: Exception) -> RnnlabError:
    """Why the study's storage cannot be opened, and the fix."""
    reason = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
    path = sqlite_file(plan.storage)
    if not plan.storage_given and path is not None:
        # the sweep's own study file: there is no --storage to check, the file is the fault
        return RnnlabError(
            f"cannot open the study file {path} ({reason}); move it aside to start the "
            "study afresh, or choose another --study NAME"
        )
    return RnnlabError(
        f"cannot open the study storage {masked_url(plan.storage)} ({reason}); check "
        "--storage (e.g. sqlite:///path/optuna.db or postgresql://user:password@host/db)"
    )


def _identity(plan: SweepPlan) -> dict[str, Any]:
    """What makes two calls the same sweep: the base config, the space and the objective."""
    config = {k: v for k, v in plan.config.to_dict().items() if k not in _IGNORED_FOR_IDENTITY}
    return {
        "config": config,
        "space": {k: p.spec for k, p in plan.space.items()},
        "metric": plan.metric,
        "direction": plan.direction,
        "sampler": plan.sampler,
        "grid_seed": plan.sampler_seed if plan.sampler == "grid" else None,
    }


def _check_same_study(study: Any, plan: SweepPlan) -> None:
    """Continuing a study with another config or space would mix incomparable trials."""
    mine = _refuse_other_settings(study, plan)
    if study.user_attrs.get("rnnlab") != mine:
        study.set_user_attr("rnnlab", mine)


def _refuse_other_settings(study: Any, plan: SweepPlan) -> dict[str, Any]:
    """A ConfigError where the stored study was run with another objective or settings;
    reads the study, writes nothing. Returns the plan's settings as the study stores them."""
    direction = study.direction.name.lower()
    if direction != plan.direction:
        raise ConfigError(
            f"study '{plan.study}' in {masked_url(plan.storage)} is set to {direction}, but "
            f"{plan.metric} is to {plan.direction}; start a new study with --study NAME"
        )
    mine = json.loads(json.dumps(_identity(plan)))
    theirs = study.user_attrs.get("rnnlab")
    kept = [t for t in study.trials if t.user_attrs.get("status") != "error"]
    if theirs is not None and kept and theirs != mine:
        differences = _differences(theirs, mine)
        first = differences[0] if differences else "its settings"
        raise ConfigError(
            f"study '{plan.study}' in {masked_url(plan.storage)} was run with other settings "
            f"({first}); continue it with the same ones, or start a new study with --study NAME"
        )
    return mine


def finished_in_saved_study(plan: SweepPlan) -> tuple[int, int] | None:
    """For --dry-run: (the trials an SQLite study file already holds toward --trials, all the
    trials it holds), or None where there is no such study yet; refuses, as the real call
    would, a study run with other settings. Only an existing file is opened: a dry run
    creates nothing."""
    from rnnlab.experiments.sweep.results import count_finished

    path = sqlite_file(plan.storage)
    if path is None or not path.is_file():
        return None
    optuna = import_optuna()
    try:
        study = optuna.load_study(study_name=plan.study, storage=plan.storage)
    except KeyError:  # the file holds other studies, not this one
        return None
    except Exception as exc:  # unreadable: said as the real call says it
        raise _open_error(plan, exc) from None
    _refuse_other_settings(study, plan)
    return count_finished(optuna, study), len(study.trials)


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            name = f"{prefix}.{key}" if prefix else str(key)
            if name.startswith("config."):
                name = name[len("config.") :]
            out += _differences(old.get(key), new.get(key), name)
        return out
    return [] if old == new else [f"{prefix}: {old!r} there, {new!r} now"]


def make_sampler(optuna: Any, plan: SweepPlan, seed: int) -> Any:
    """The plan's sampler (tpe, random or grid), seeded with `seed`."""
    samplers = optuna.samplers
    if plan.sampler == "random":
        return samplers.RandomSampler(seed=seed)
    if plan.sampler == "grid":

        class Grid(samplers.GridSampler):
            # GridSampler ends `study.optimize` from after_trial once the grid is covered;
            # outside optimize (ask/tell) that call raises. The sweep stops by itself.
            def after_trial(self, *args: Any, **kwargs: Any) -> None:
                return None

        return Grid({name: list(p.choices) for name, p in plan.space.items()}, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # multivariate TPE is marked experimental
        # Multivariate: the best learning rate depends on the optimizer (and batch size), so
        # the parameters are modelled jointly. The first 5 trials are drawn at random; a fixed
        # number (not a share of --trials) keeps a continued sweep drawing what one call would.
        return samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=5)


def _make_pruner(optuna: Any, plan: SweepPlan) -> Any:
    """The median rule with --prune, else a pruner that never prunes."""
    if not plan.prune:
        return optuna.pruners.NopPruner()
    # Median rule: stop a trial whose best value so far is worse than the median of finished
    # trials at the same iteration. It waits for 3 finished trials, needs 3 of them to have
    # reached that iteration (with iterations swept, few long trials may have: a median of
    # one is no median), and never judges a trial on its first evaluation alone (too noisy).
    return optuna.pruners.MedianPruner(
        n_startup_trials=3, n_warmup_steps=2 * plan.config.train.eval_every, n_min_trials=3
    )


def best_value(optuna: Any, study: Any) -> float | None:
    # Optuna's study.best_value raises while no trial has completed
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return study.best_value if complete else None
