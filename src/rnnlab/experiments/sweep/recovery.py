"""Interrupted and stale trials: their runs found in the results store, their parameters
queued again so that the run resumes from its checkpoint."""

from __future__ import annotations

import os
import socket
from datetime import datetime
from pathlib import Path
from typing import Any

from rnnlab.experiments.sweep.plan import SweepPlan
from rnnlab.results.owner import process_alive


def recover_stale(optuna: Any, study: Any, store: Any, plan: SweepPlan) -> list[int]:
    """Trials left RUNNING by a process of this machine that no longer exists (killed, or the
    machine restarted) become interrupted trials, to be retried. Trials running on other
    machines or in live processes are left alone."""
    out = []
    host = socket.gethostname()
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        attrs = t.user_attrs
        if attrs.get("host") != host or _alive(attrs.get("pid")):
            continue
        run = find_run(store, plan.group, attrs, t.datetime_start)
        trial_id = t._trial_id  # the storage id: a finished process's trial has no Trial object
        storage = study._storage
        checkpoint = saved_checkpoint(run)
        if run is not None:
            storage.set_trial_user_attr(trial_id, "run_id", run["id"])
            if run["status"] == "running":
                store.update_run(
                    run["id"], status="interrupted", message="the sweep process ended mid-run"
                )
        storage.set_trial_user_attr(trial_id, "checkpoint", checkpoint)
        storage.set_trial_user_attr(trial_id, "status", "interrupted")
        storage.set_trial_user_attr(trial_id, "note", "left running by a process that ended")
        study.tell(t.number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
        out.append(t.number)
    return out


def _alive(pid: Any) -> bool:
    """A trial's process is alive: never this one, which is starting the sweep afresh."""
    return isinstance(pid, int) and pid != os.getpid() and process_alive(pid)


def enqueue_retries(optuna: Any, study: Any) -> list[tuple[int, str | None]]:
    """Queue each interrupted trial's parameters again (once), to resume its run first."""
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    out = []
    for t in trials:
        attrs = t.user_attrs
        if t.state != optuna.trial.TrialState.FAIL or attrs.get("status") != "interrupted":
            continue
        if t.number in retried:
            continue
        checkpoint = attrs.get("checkpoint")
        checkpoint = checkpoint if checkpoint and Path(checkpoint).is_file() else None
        extra = {"retry_of": t.number, "resume_checkpoint": checkpoint}
        for key in ("run_id", "run_name", "baseline"):
            if key in attrs and (key != "run_id" or checkpoint):
                extra[key] = attrs[key]
        study.enqueue_trial(dict(t.params), user_attrs=extra)
        out.append((t.number, checkpoint))
    return out


def find_run(store: Any, group: str, attrs: dict[str, Any], since: datetime | None) -> Any:
    """The results-store row of a trial's run: by id once known, else by its unique name."""
    if attrs.get("run_id") is not None:
        return store.get_run(int(attrs["run_id"]))
    name = attrs.get("run_name")
    if not name:
        return None
    earliest = since.timestamp() - 1 if since is not None else 0
    for run in store.list_runs(group=group, name=name):
        # a study deleted and started again reuses trial numbers: only a run made since the
        # trial started is its run
        if run["name"] == name and run["created"] >= earliest:
            return run
    return None


def saved_checkpoint(run: dict[str, Any] | None) -> str | None:
    # absolute, so that a sweep continued from another folder still finds it
    if run and run.get("checkpoint") and Path(run["checkpoint"]).is_file():
        return str(Path(run["checkpoint"]).resolve())
    return None
