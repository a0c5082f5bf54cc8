"""Matching a comparison's planned runs against the runs the results store already holds:
which are done, which resume, and whether a saved comparison of the same name may be
extended by this one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnlab.config import flatten
from rnnlab.errors import ConfigError
from rnnlab.experiments.ranges import few

if TYPE_CHECKING:
    from rnnlab.experiments.compare.plan import PlannedRun


def canonical(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, default=str)


def configuration_key(config: dict[str, Any]) -> str:
    """The same for runs whose configs differ only in the seed: one configuration."""
    return canonical({k: v for k, v in (config or {}).items() if k != "seed"})


def done_or_resumable(
    stored: list[dict[str, Any]], config: dict[str, Any], runs_dir: Path | None = None
) -> tuple[dict[str, Any] | None, str | None]:
    """(finished store row, None) or (None, checkpoint to resume) or (None, None)."""
    key = canonical(config)
    for row in stored:  # newest first
        if canonical(row.get("config") or {}) != key:
            continue
        if row["status"] in ("completed", "stopped", "diverged"):
            return row, None
        checkpoint = _checkpoint_at_hand(row, runs_dir)
        if checkpoint is not None:
            return None, checkpoint
    return None, None


def _checkpoint_at_hand(row: dict[str, Any], runs_dir: Path | None) -> str | None:
    """The run's checkpoint, looked for first in its folder beside the store: the store
    records it as the path was spelled then (relative to that working directory), so the
    same command run from another folder, or with the runs folder spelled otherwise, would
    miss it and train the run again from the start."""
    recorded = row.get("checkpoint")
    if not recorded:
        return None
    candidates = [Path(recorded)]
    if runs_dir is not None:
        folder = Path(row.get("run_dir") or Path(recorded).parent).name
        candidates.insert(0, Path(runs_dir) / folder / Path(recorded).name)
    return next((str(path) for path in candidates if path.is_file()), None)


def check_same_settings(
    folder: Path, name: str, planned: list[PlannedRun], stored: list[dict[str, Any]]
) -> None:
    """Refuse a comparison that would replace the saved one of this name with other runs.

    Allowed: the same settings (a stopped comparison resumes, a finished one rebuilds its
    table) and a superset of them (more seeds, more grid values: every saved run is in the
    new table). Anything else - another preset or task, other iterations, fewer seeds -
    would silently overwrite table.md, runs.csv and comparison.json with a table of other
    runs, and `rnnlab report NAME` would then mix the two."""
    path = folder / "comparison.json"
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        saved_name = str(saved.get("name", name))
        saved_ids = [int(r["run_id"]) for r in saved["runs"]]
    except FileNotFoundError:
        return  # a new comparison, or one stopped before its first table
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return  # unreadable: nothing in it to keep; the new table replaces it
    fix = f"give --name NEW for a new comparison, or delete {folder} to replace it"
    if saved_name != name:  # two names with one slug ("a b", "a-b") share a folder
        raise ConfigError(
            f"comparison '{name}' would be saved in {folder}, which holds comparison "
            f"'{saved_name}'; give another --name"
        )
    # The saved runs' configs, as the store has them; ids the store does not have in this
    # group (a store moved aside and started again) say nothing about this comparison.
    by_id = {int(r["id"]): r for r in stored}
    saved_configs = [by_id[i] for i in saved_ids if i in by_id]
    now = {canonical(run.config.to_dict()): run for run in planned}
    missing = [r for r in saved_configs if canonical(r.get("config") or {}) not in now]
    if not missing:
        return
    row = missing[0]
    old = flatten(row.get("config") or {})

    def distance(new: dict[str, Any]) -> int:
        # every field counts here, the name too: the same grid point is the closest
        return sum(canonical(old.get(k)) != canonical(new.get(k)) for k in {*old, *new})

    closest = min((flatten(run.config.to_dict()) for run in planned), key=distance)
    fields = _differing(old, closest)
    if fields == ["seed"]:
        seeds = sorted({run.seed for run in planned})
        what = f"its run {row['id']} has seed {old['seed']}, not among the seeds now: {few(seeds)}"
    else:
        shown = [f"{f} {_value(old, f)}, now {_value(closest, f)}" for f in fields[:3]]
        more = f"; and {len(fields) - 3} more fields" if len(fields) > 3 else ""
        what = f"its run {row['id']} has {'; '.join(shown)}{more}"
    if len(missing) > 1:
        what += f"; {len(missing)} of its runs would leave its table"
    hint = ""
    if "threads" in fields:
        hint = "; --jobs sets each run's threads, so give the --jobs used before"
    raise ConfigError(f"comparison '{name}' exists with other settings ({what}); {fix}{hint}")


def _differing(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The flattened config fields that differ, "task" first: it explains all the others."""
    order: dict[str, int] = {}
    for key in [*old, *new]:
        order.setdefault(key, len(order))
    keys = sorted(order, key=lambda k: (k != "task", order[k]))
    out = [k for k in keys if canonical(old.get(k)) != canonical(new.get(k))]
    # the run name follows the grid point, which other fields show better; alone it says
    # the axes changed (an axis added: "hihell" is now "hihell[hidden=8]")
    return [k for k in out if k != "name"] or out


def _value(flat: dict[str, Any], key: str) -> str:
    return str(flat[key]) if key in flat else "-"
