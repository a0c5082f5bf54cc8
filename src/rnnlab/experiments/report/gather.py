"""The report's content as plain data (report.json): runs grouped by configuration, their
curves, final values with mean and std, and the one-line summary."""

from __future__ import annotations

import json
import math
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnlab.config import flatten
from rnnlab.experiments.compare import cell_label, configuration_key
from rnnlab.experiments.report.selection import table_run_ids

if TYPE_CHECKING:
    from rnnlab.experiments.report.selection import Selection

LOSS_METRIC = "train_loss"
# Shown in their own columns of the runs table, so never counted among the varying fields.
OWN_COLUMNS = ("seed", "name")
# Runs whose final value counts in a configuration's mean, as in `rnnlab compare`'s table.
FINISHED = ("completed", "stopped")


@dataclass
class _Config:
    """Runs that differ only in their seed."""

    label: str
    runs: list[dict[str, Any]]
    order: tuple[int, int, int] = (0, 0, 0)


# --------------------------------------------------------------------------- configs


_MISSING = object()


def varying_fields(configs: list[dict[str, Any]]) -> list[str]:
    """The dotted config fields whose value is not the same in every config (a field that
    some configs lack, as between tasks, varies too), in the configs' own order."""
    flat = [flatten(c or {}) for c in configs]
    keys: dict[str, None] = {}
    for f in flat:
        keys.update(dict.fromkeys(f))
    out = []
    for key in keys:
        seen = {json.dumps(f.get(key, _MISSING), sort_keys=True, default=str) for f in flat}
        if len(seen) > 1:
            out.append(key)
    return out


def value_text(value: Any) -> str:
    """A config value as the page shows it: "-" where a run has none."""
    if value is _MISSING or value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _group_configs(
    rows: list[dict[str, Any]], comparison: dict[str, Any] | None, varying: list[str]
) -> list[_Config]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(configuration_key(row["config"]), []).append(row)
    # The comparison's own labels ("hidden=16", "preset=gru") where its rows cover a group.
    row_of: dict[int, int] = {}
    if comparison:
        for index, crow in enumerate(comparison["rows"]):
            for run_id in crow.get("run_ids") or []:
                row_of[int(run_id)] = index
    names = {k: {r["name"] for r in members} for k, members in groups.items()}
    # Plain runs of different presets read best by name ("seed-c", "gru"), when the name
    # tells the configurations apart; otherwise by the fields that differ.
    one_name_each = all(len(n) == 1 for n in names.values())
    unique_names = one_name_each and len(set().union(*names.values())) == len(groups)
    shown = [f for f in varying if f not in OWN_COLUMNS]
    configs = []
    for key, members in groups.items():
        indices = {row_of.get(int(r["id"])) for r in members}
        first_id = min(int(r["id"]) for r in members)
        index = indices.pop() if len(indices) == 1 else None
        if comparison and index is not None:
            cell = comparison["rows"][index].get("cell") or {}
            # a comparison without axes (seed-spread: one recipe over seeds) has no cell to
            # name its one configuration by: its runs' name does, not cell_label's "-"
            label = cell_label(cell) if cell else str(members[0]["name"])
            order = (0, index, first_id)  # the comparison's rows first, in its order
        else:
            flat = flatten(members[0]["config"] or {})
            fields = " ".join(f"{f}={value_text(flat.get(f, _MISSING))}" for f in shown)
            label = next(iter(names[key])) if unique_names or not fields else fields
            order = (1, first_id, 0)
        configs.append(_Config(label, sorted(members, key=lambda r: r["id"]), order))
    # Fields alone can name two configurations alike: runs "seed-c" at hidden 100 and 8 and
    # a run "other" at hidden 100 are "model.hidden=100" twice. The name tells them apart
    # (configurations with the same name and fields are one).
    count = Counter(c.label for c in configs)
    for c in configs:
        if count[c.label] > 1 and c.order[0] == 1:
            c.label = f"{c.runs[0]['name']} {c.label}"
    configs.sort(key=lambda c: c.order)
    return configs


# --------------------------------------------------------------------------- numbers


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _curve(history: list[dict[str, Any]], metric: str) -> dict[str, list[float]]:
    points = [(h["iteration"], h[metric]) for h in history if _finite(h.get(metric))]
    return {"iteration": [p[0] for p in points], "value": [float(p[1]) for p in points]}


def _mean_curve(curves: list[dict[str, list[float]]]) -> dict[str, Any]:
    """Mean and sample std over `curves` (a configuration's finished runs that have values)
    at the iterations every one of them has, so each point averages the same runs: a curve
    that ended early would otherwise make the mean jump where it stops counting. `dropped`
    counts the iterations some, not all, of the runs have; one run has no std (None)."""
    if not curves:
        return {"iteration": [], "mean": [], "std": [], "n": [], "dropped": 0}
    at: dict[int, list[float]] = {}
    for c in curves:
        for it, v in zip(c["iteration"], c["value"]):
            at.setdefault(it, []).append(v)
    its = sorted(i for i in at if len(at[i]) == len(curves))
    return {
        "iteration": its,
        "mean": [statistics.fmean(at[i]) for i in its],
        # the sample std (n - 1), as the final values'; one run has none, not 0
        "std": [statistics.stdev(at[i]) if len(at[i]) > 1 else None for i in its],
        "n": [len(at[i]) for i in its],
        "dropped": len(at) - len(its),
    }


def _curve_members(members: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """The runs behind a configuration's mean `key` curve: those that finished (the runs of
    its final mean) and have values. Unfinished ones are drawn on their own, not averaged."""
    return [m for m in members if m["status"] in FINISHED and m[key]["iteration"]]


def _mean_note(label: str, name: str, curve: dict[str, Any]) -> str | None:
    """What the page must say when a mean curve left out iterations some runs lack."""
    dropped = curve["dropped"]
    if not dropped:
        return None
    return (
        f"the mean {name} curve of {label} leaves out {dropped} iteration"
        f"{'s' * (dropped != 1)} where not all its {len(curve['run_ids'])} finished runs "
        "have a value"
    )


def _config_item(
    c: _Config, members: list[dict[str, Any]], metric: str, notes: list[str]
) -> dict[str, Any]:
    """A configuration's runs, final statistics and mean curves (over its finished runs)."""
    finals = [m["final"] for m in members if m["status"] in FINISHED and m["final"] is not None]
    item: dict[str, Any] = {
        "label": c.label,
        "run_ids": [m["id"] for m in members],
        "seeds": [m["seed"] for m in members],
        "statuses": [m["status"] for m in members],
        "final": _stats(finals),
    }
    for key, name in (("curve", metric), ("loss", LOSS_METRIC)):
        averaged = _curve_members(members, key)
        item[key] = _mean_curve([m[key] for m in averaged])
        item[key]["run_ids"] = [m["id"] for m in averaged]
        note = _mean_note(c.label, name, item[key])  # None with one run: nothing left out
        if note:
            notes.append(note)
    return item


def _final(row: dict[str, Any], metric: str) -> float | None:
    value = (row.get("final_metrics") or {}).get(metric)
    return float(value) if _finite(value) else None


def _stats(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "values": values,
        "mean": statistics.fmean(values) if values else None,
        # the sample std (n - 1), as the comparison table's; one value has none, not 0
        "std": statistics.stdev(values) if len(values) > 1 else None,
    }


def _decimals(values: list[float]) -> int:
    """Two decimals for values like percentages (95.93), four for losses and fractions
    (2.3068, 0.8750): one choice per report, so a mean and its std line up."""
    return 2 if values and max(abs(v) for v in values) >= 3 else 4


def number_text(value: float | None, decimals: int = 4) -> str:
    """A metric value with the report's decimals: "-" where there is none."""
    return "-" if value is None else f"{value:.{decimals}f}"


# --------------------------------------------------------------------------- the data


def report_data(
    selection: Selection, runs_dir: Path, metric: str, higher_is_better: bool
) -> dict[str, Any]:
    """Everything the page shows, as plain data (report.json)."""
    rows, histories, comparison = selection.rows, selection.histories, selection.comparison
    notes = selection.notes
    varying = varying_fields([r["config"] for r in rows])
    configs = _group_configs(rows, comparison, varying)
    index_of = {int(r["id"]): i for i, c in enumerate(configs) for r in c.runs}
    shown = [f for f in varying if f not in OWN_COLUMNS]
    run_items = []
    for r in rows:
        run_id = int(r["id"])
        flat = flatten(r["config"] or {})
        run_items.append(
            {
                "id": run_id,
                "name": r["name"],
                "task": r["task"],
                "group": r.get("group_name"),
                "status": r["status"],
                "seed": r.get("seed"),
                "configuration": index_of[run_id],
                "fields": {f: flat.get(f) for f in shown},
                "final": _final(r, metric),
                "final_metrics": r.get("final_metrics") or {},
                "iteration": r.get("iteration"),
                "total_iterations": r.get("total_iterations"),
                "wall_time": r.get("wall_time"),
                "samples_per_sec": r.get("samples_per_sec"),
                "device": r.get("device"),
                "precision": r.get("precision"),
                "versions": r.get("versions") or {},
                "message": r.get("message"),
                "curve": _curve(histories[run_id], metric),
                "loss": _curve(histories[run_id], LOSS_METRIC),
            }
        )
    by_id = {item["id"]: item for item in run_items}
    config_items = [
        _config_item(c, [by_id[int(r["id"])] for r in c.runs], metric, notes) for c in configs
    ]
    for item in run_items:
        if not item["curve"]["iteration"]:
            notes.append(f"run {item['id']} ({item['status']}) has no {metric} values to draw")
    # One line per configuration once some configuration has several runs (seeds).
    mode = "configurations" if any(len(c.runs) > 1 for c in configs) else "runs"
    environments: dict[str, dict[str, Any]] = {}
    for item in run_items:
        key = json.dumps([item["device"], item["precision"], item["versions"]], sort_keys=True)
        env = environments.setdefault(
            key,
            {
                "device": item["device"],
                "precision": item["precision"],
                "versions": item["versions"],
                "run_ids": [],
            },
        )
        env["run_ids"].append(item["id"])
    data: dict[str, Any] = {
        "title": selection.description,
        "selection": selection.description,
        "runs_dir": str(runs_dir),
        "generated": time.strftime("%Y-%m-%d %H:%M:%S"),
        "metric": metric,
        "higher_is_better": higher_is_better,
        "decimals": _decimals([i["final"] for i in run_items if i["final"] is not None]),
        "mode": mode,
        "varying": shown,
        "runs": run_items,
        "configurations": config_items,
        "comparison": _comparison_summary(comparison),
        # False where the comparison's saved table is of other runs (--runs, --name, --task
        # kept some of them) or of another metric (--metric): its figures are not this page's
        "comparison_covers": _covers(comparison, rows, metric),
        "environments": list(environments.values()),
        "notes": notes,
    }
    data["summary"] = _summary(data)
    return data


def _comparison_summary(comparison: dict[str, Any] | None) -> dict[str, Any] | None:
    if not comparison:
        return None
    keep = ("name", "source", "metric", "higher_is_better", "axes", "seeds", "rows")
    return {k: comparison.get(k) for k in keep}


def _covers(comparison: dict[str, Any] | None, rows: list[dict[str, Any]], metric: str) -> bool:
    """Whether the comparison's saved table summarises exactly these runs, on this metric."""
    if not comparison:
        return False
    if comparison.get("metric") not in (None, metric):
        return False
    table = table_run_ids(comparison)
    # not listed (another rnnlab version wrote it): nothing to check it against
    return not table or table == {int(r["id"]) for r in rows}


def best_configuration(data: dict[str, Any]) -> dict[str, Any] | None:
    """The configuration with the best mean final value, if any has one."""
    scored = [c for c in data["configurations"] if c["final"]["n"]]
    if not scored:
        return None
    pick = max if data["higher_is_better"] else min
    return pick(scored, key=lambda c: c["final"]["mean"])


def _summary(data: dict[str, Any]) -> str:
    n_runs, n_conf = len(data["runs"]), len(data["configurations"])
    text = f"{n_runs} run{'s' * (n_runs != 1)}"
    if n_conf != n_runs:
        text += f" in {n_conf} configuration{'s' * (n_conf != 1)}"
    metric = data["metric"]
    best = best_configuration(data)
    if best is None:
        return f"{text}; no finished run has a final {metric}"
    final = best["final"]
    d = data["decimals"]
    value = number_text(final["mean"], d)
    if final["n"] > 1:
        value += f" ± {number_text(final['std'], d)} over {final['n']} runs"
    if n_conf > 1:
        return f"{text}; best {best['label']}: {metric} {value}"
    return f"{text}; {metric} {value}"
