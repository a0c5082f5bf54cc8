"""Reports: learning curves and a summary of recorded runs, from the results store alone.

No data and no checkpoints are read: every figure comes from `rnnlab.db` (configs, final
metrics, metrics over time) and, for a comparison, its `comparison.json` (axes and summary
rows). A report is a folder of three PNGs, one self-contained HTML page that embeds them and
`report.json` with the same content as data.

Runs that share a configuration (everything in the config but the seed) are drawn as one
line: the mean over their seeds with a band of one standard deviation. When every
configuration has a single run, each run is its own line.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnlab.config import flatten
from rnnlab.errors import ConfigError, RnnlabError
from rnnlab.experiments.ranges import int_ranges

LOSS_METRIC = "train_loss"
# Shown in their own columns of the runs table, so never counted among the varying fields.
OWN_COLUMNS = ("seed", "name")
# Runs whose final value counts in a configuration's mean, as in `rnnlab compare`'s table.
FINISHED = ("completed", "stopped")


@dataclass
class ReportResult:
    """Where a report went and what it covers."""

    folder: Path
    html: Path
    json: Path
    curves: Path
    loss: Path
    final: Path
    run_ids: list[int]
    metric: str
    summary: str  # one line: how many runs and configurations, and the best one
    data: dict[str, Any] = field(default_factory=dict)  # what report.json holds


@dataclass
class _Config:
    """Runs that differ only in their seed."""

    label: str
    runs: list[dict[str, Any]]
    order: tuple[int, int, int] = (0, 0, 0)


# --------------------------------------------------------------------------- selection


def parse_run_ids(text: str) -> list[int]:
    """ "3,5,8" -> [3, 5, 8]; "3-5" -> [3, 4, 5]."""
    try:
        return int_ranges(text)
    except ValueError:
        raise ConfigError(f"--runs expects run ids, e.g. 3,5,8 or 3-8; got '{text}'") from None


def _comparison_names(runs_dir: Path) -> list[str]:
    names = []
    for path in sorted((runs_dir / "compare").glob("*/comparison.json")):
        try:
            names.append(str(json.loads(path.read_text(encoding="utf-8"))["name"]))
        except (OSError, ValueError, KeyError, TypeError):
            names.append(path.parent.name)
    return names


def _load_comparison(runs_dir: Path, name: str, notes: list[str]) -> dict[str, Any] | None:
    from rnnlab.api import _slug

    path = runs_dir / "compare" / _slug(name) / "comparison.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data.get("rows"), list):
            raise ValueError("no rows")
    except (OSError, ValueError, AttributeError) as exc:
        # The store still has every run: report them without the comparison's table.
        notes.append(f"{path} is not readable ({exc}); its summary table is left out")
        return None
    return data


def _describe(
    comparison: str | None, group: str | None, name: str | None, task: str | None, ids: Any
) -> str:
    parts = []
    if comparison:
        parts.append(f"comparison '{comparison}'")
    elif group:
        parts.append(f"group '{group}'")
    if name:
        parts.append(f"name '{name}'")
    if task:
        parts.append(f"task '{task}'")
    if ids:
        parts.append(f"runs {','.join(map(str, ids))}")
    return ", ".join(parts) or "all runs"


def _default_slug(
    comparison: str | None, group: str | None, name: str | None, task: str | None, ids: Any
) -> str:
    """The report's folder under RUNS/reports: the comparison's name, else one part per
    filter ("name-seed-c", "task-classify", "runs-3-5-8"), so different selections never
    share a folder."""
    from rnnlab.api import _slug

    if comparison:
        return _slug(comparison)
    parts = []
    for kind, value in (("group", group), ("name", name), ("task", task)):
        if value:
            parts.append(f"{kind}-{_slug(value.replace('*', 'all'))}")
    if ids:
        parts.append("runs-" + "-".join(map(str, ids[:8])) + ("-more" if len(ids) > 8 else ""))
    return "-".join(parts) or "all-runs"


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


def _value_text(value: Any) -> str:
    if value is _MISSING or value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _group_configs(
    rows: list[dict[str, Any]], comparison: dict[str, Any] | None, varying: list[str]
) -> list[_Config]:
    from rnnlab.experiments.grid import cell_label, configuration_key

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
            label = cell_label(comparison["rows"][index].get("cell") or {})
            order = (0, index, first_id)  # the comparison's rows first, in its order
        else:
            flat = flatten(members[0]["config"] or {})
            fields = " ".join(f"{f}={_value_text(flat.get(f, _MISSING))}" for f in shown)
            label = next(iter(names[key])) if unique_names or not fields else fields
            order = (1, first_id, 0)
        configs.append(_Config(label, sorted(members, key=lambda r: r["id"]), order))
    configs.sort(key=lambda c: c.order)
    return configs


# --------------------------------------------------------------------------- numbers


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _curve(history: list[dict[str, Any]], metric: str) -> dict[str, list[float]]:
    points = [(h["iteration"], h[metric]) for h in history if _finite(h.get(metric))]
    return {"iteration": [p[0] for p in points], "value": [float(p[1]) for p in points]}


def _mean_curve(curves: list[dict[str, list[float]]]) -> dict[str, list[float]]:
    """Mean and sample std over the runs that have a value at each iteration (a run that
    diverged or was interrupted counts up to its last evaluation)."""
    at: dict[int, list[float]] = {}
    for c in curves:
        for it, v in zip(c["iteration"], c["value"]):
            at.setdefault(it, []).append(v)
    its = sorted(at)
    return {
        "iteration": its,
        "mean": [statistics.fmean(at[i]) for i in its],
        "std": [statistics.stdev(at[i]) if len(at[i]) > 1 else 0.0 for i in its],
        "n": [len(at[i]) for i in its],
    }


def _final(row: dict[str, Any], metric: str) -> float | None:
    value = (row.get("final_metrics") or {}).get(metric)
    return float(value) if _finite(value) else None


def _stats(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "values": values,
        "mean": statistics.fmean(values) if values else None,
        "std": (statistics.stdev(values) if len(values) > 1 else 0.0) if values else None,
    }


def _decimals(values: list[float]) -> int:
    """Two decimals for values like percentages (95.93), four for losses and fractions
    (2.3068, 0.8750): one choice per report, so a mean and its std line up."""
    return 2 if values and max(abs(v) for v in values) >= 3 else 4


def _fmt(value: float | None, decimals: int = 4) -> str:
    return "-" if value is None else f"{value:.{decimals}f}"


def _ids_text(ids: list[int]) -> str:
    """[1, 2, 3, 7] -> "1-3, 7"."""
    parts: list[str] = []
    for i in sorted(ids):
        if parts and parts[-1].split("-")[-1] == str(i - 1):
            parts[-1] = f"{parts[-1].split('-')[0]}-{i}"
        else:
            parts.append(str(i))
    return ", ".join(parts)


# --------------------------------------------------------------------------- the report


def report(
    comparison: str | None = None,
    *,
    group: str | None = None,
    name: str | None = None,
    task: str | None = None,
    runs: list[int] | str | None = None,
    metric: str | None = None,
    out: str | Path | None = None,
    runs_dir: str | Path | None = None,
) -> ReportResult:
    """Learning curves, final values and a table of the selected runs, written to `out`
    (default RUNS/reports/<selection>/) as curves.png, loss.png, final.png, report.html and
    report.json.

    `comparison` selects the runs of `rnnlab compare NAME` (group "compare:NAME") and takes
    its axes and summary table; `group`, `name` (* is a wildcard), `task` and `runs` (ids, a
    list or "3,5,8" / "3-8") narrow the selection. `metric` defaults to the comparison's,
    else the task's primary metric (test_acc for classification).
    """
    from rnnlab.data.paths import default_runs_dir
    from rnnlab.results.store import DB_NAME, ResultsStore

    runs_path = Path(runs_dir) if runs_dir else default_runs_dir()
    if not (runs_path / DB_NAME).is_file():
        raise RnnlabError(
            f"no results store in {runs_path} (no {DB_NAME}); point --runs-dir at the folder "
            "your runs were recorded in (default ./runs or $RNNLAB_RUNS)"
        )
    ids = parse_run_ids(runs) if isinstance(runs, str) else list(runs or [])
    notes: list[str] = []

    if comparison and group and group != f"compare:{comparison}":
        raise ConfigError(
            f"give a comparison name or --group, not both ('{comparison}' is group "
            f"'compare:{comparison}')"
        )
    if comparison:
        group = f"compare:{comparison}"
    # --group compare:NAME is the comparison NAME too: its table comes with it
    comp_name = group[len("compare:") :] if group and group.startswith("compare:") else None
    comp_data = _load_comparison(runs_path, comp_name, notes) if comp_name else None
    store = ResultsStore(runs_path)
    if comparison and comp_data is None and not store.list_runs(group=group, limit=1):
        present = _comparison_names(runs_path)
        listed = (
            f"comparisons in {runs_path / 'compare'}: {', '.join(present)}"
            if present
            else f"there are no comparisons in {runs_path / 'compare'} yet (rnnlab compare)"
        )
        raise ConfigError(f"unknown comparison '{comparison}'; {listed}")
    selection = _describe(comparison, group, name, task, ids)
    rows = store.list_runs(name=name, task=task, group=group)
    if ids:
        rows = [r for r in rows if int(r["id"]) in set(ids)]
        missing = sorted(set(ids) - {int(r["id"]) for r in rows})
        if rows and missing:
            raise ConfigError(
                f"run {', '.join(map(str, missing))} is not in the selection ({selection}) "
                f"in {runs_path}; rnnlab runs lists the recorded runs"
            )
    if not rows:
        raise RnnlabError(
            f"no runs match the selection ({selection}) in {runs_path}; "
            "rnnlab runs lists the recorded runs"
        )
    rows.sort(key=lambda r: r["id"])
    histories = {int(r["id"]): store.metrics(int(r["id"])) for r in rows}

    metric, higher_is_better = _choose_metric(metric, comp_data, rows, histories)
    slug = _default_slug(comparison, group, name, task, ids)
    folder = Path(out) if out else runs_path / "reports" / slug
    _check_writable(folder)

    varying = varying_fields([r["config"] for r in rows])
    configs = _group_configs(rows, comp_data, varying)
    data = _report_data(
        selection,
        runs_path,
        metric,
        higher_is_better,
        rows,
        histories,
        configs,
        varying,
        comp_data,
        notes,
    )
    files = _write(folder, data)
    data["files"] = {k: str(v) for k, v in files.items()}
    return ReportResult(
        folder=folder,
        html=files["html"],
        json=files["json"],
        curves=files["curves"],
        loss=files["loss"],
        final=files["final"],
        run_ids=[int(r["id"]) for r in rows],
        metric=metric,
        summary=data["summary"],
        data=data,
    )


def _choose_metric(
    metric: str | None,
    comparison: dict[str, Any] | None,
    rows: list[dict[str, Any]],
    histories: dict[int, list[dict[str, Any]]],
) -> tuple[str, bool]:
    from rnnlab.tasks import get_task_class
    from rnnlab.tasks.base import metric_higher_is_better

    tasks = sorted({r["task"] for r in rows})
    if metric is None and comparison and comparison.get("metric"):
        metric = str(comparison["metric"])
    if metric is None:
        primary = {get_task_class(t).primary_metric for t in tasks}
        if len(primary) > 1:
            raise ConfigError(
                f"the selected runs are of several tasks ({', '.join(tasks)}) with different "
                "metrics; choose one task with --task or a metric with --metric"
            )
        metric = primary.pop()
    available: set[str] = set()
    for r in rows:
        available.update(r.get("final_metrics") or {})
        for h in histories[int(r["id"])]:
            available.update(h)
    available -= {"iteration", "wall_time"}
    if metric not in available:
        raise ConfigError(
            f"no selected run has the metric '{metric}'; they have: "
            f"{', '.join(sorted(available)) or 'none (no evaluation recorded yet)'}"
        )
    default = get_task_class(tasks[0]).higher_is_better if len(tasks) == 1 else True
    if comparison and comparison.get("metric") == metric and "higher_is_better" in comparison:
        return metric, bool(comparison["higher_is_better"])
    return metric, metric_higher_is_better(metric, default)


def _check_writable(folder: Path) -> None:
    # Before drawing anything: a wrong --out should cost nothing and say which flag to fix.
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise RnnlabError(
            f"cannot write the report to {folder} ({exc.strerror or exc}); "
            "choose a writable folder with --out"
        ) from None


def _report_data(
    selection: str,
    runs_dir: Path,
    metric: str,
    higher_is_better: bool,
    rows: list[dict[str, Any]],
    histories: dict[int, list[dict[str, Any]]],
    configs: list[_Config],
    varying: list[str],
    comparison: dict[str, Any] | None,
    notes: list[str],
) -> dict[str, Any]:
    """Everything the page shows, as plain data (report.json)."""
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
    config_items = []
    for c in configs:
        members = [by_id[int(r["id"])] for r in c.runs]
        finals = [m["final"] for m in members if m["status"] in FINISHED and m["final"] is not None]
        config_items.append(
            {
                "label": c.label,
                "run_ids": [m["id"] for m in members],
                "seeds": [m["seed"] for m in members],
                "statuses": [m["status"] for m in members],
                "final": _stats(finals),
                "curve": _mean_curve([m["curve"] for m in members]),
                "loss": _mean_curve([m["loss"] for m in members]),
            }
        )
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
        "title": selection,
        "selection": selection,
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


def _best(data: dict[str, Any]) -> dict[str, Any] | None:
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
    best = _best(data)
    if best is None:
        return f"{text}; no finished run has a final {metric}"
    final = best["final"]
    d = data["decimals"]
    value = _fmt(final["mean"], d)
    if final["n"] > 1:
        value += f" ± {_fmt(final['std'], d)} over {final['n']} runs"
    if n_conf > 1:
        return f"{text}; best {best['label']}: {metric} {value}"
    return f"{text}; {metric} {value}"


# --------------------------------------------------------------------------- plots


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [colormaps["tab20"](i) for i in range(n)]
    return [colormaps["viridis"](i / (n - 1)) for i in range(n)]


def _series(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The lines of one plot: per configuration (mean and std) or per run."""
    colors = _colors(len(data["configurations"]))
    out = []
    if data["mode"] == "configurations":
        for c, color in zip(data["configurations"], colors):
            curve = c[key]
            count = len(c["run_ids"])
            # runs that stopped early leave the mean where their curve ends: say so
            unfinished = [
                f"{c['statuses'].count(st)} {st}"
                for st in sorted(set(c["statuses"]))
                if st != "completed"
            ]
            extra = "".join(f", {u}" for u in unfinished)
            out.append(
                {
                    "label": f"{c['label']} ({count} run{'s' * (count != 1)}{extra})",
                    "x": curve["iteration"],
                    "y": curve["mean"],
                    "std": curve["std"],
                    "color": color,
                }
            )
    else:
        for r in data["runs"]:
            c = data["configurations"][r["configuration"]]
            status = "" if r["status"] == "completed" else f" ({r['status']})"
            out.append(
                {
                    "label": f"#{r['id']} {c['label']}{status}",
                    "x": r[key]["iteration"],
                    "y": r[key]["value"],
                    "std": None,
                    "color": colors[r["configuration"]],
                }
            )
    return out


def _figure() -> tuple[Any, Any]:
    # A bare Figure on the Agg canvas: no pyplot, so no GUI backend, no window and no
    # global figure state, whatever backend the caller's process uses.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def _legend(ax: Any, count: int) -> None:
    if count > 8:  # many lines: outside the axes, where it hides none of them
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), ncol=1 + count // 25)
    elif count:
        ax.legend(fontsize=8, loc="best")


def plot_curves(data: dict[str, Any], key: str, ylabel: str, title: str) -> bytes:
    import numpy as np

    fig, ax = _figure()
    lines = [s for s in _series(data, key) if s["x"]]
    for s in lines:
        x, y = np.asarray(s["x"]), np.asarray(s["y"])
        ax.plot(
            x,
            y,
            label=s["label"],
            color=s["color"],
            marker="o" if len(x) <= 30 else None,
            markersize=3,
            linewidth=1.5,
        )
        if s["std"] is not None and any(s["std"]):
            std = np.asarray(s["std"])
            ax.fill_between(x, y - std, y + std, color=s["color"], alpha=0.2, linewidth=0)
    if not lines:
        ax.text(0.5, 0.5, f"no {ylabel} recorded", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("iteration")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    _legend(ax, len(lines))
    return _png(fig)


def plot_final(data: dict[str, Any]) -> bytes:
    import numpy as np

    fig, ax = _figure()
    metric = data["metric"]
    colors = _colors(len(data["configurations"]))
    if data["mode"] == "configurations":
        bars = [
            (c["label"], c["final"]["mean"], c["final"]["std"], c["final"]["values"], colors[i])
            for i, c in enumerate(data["configurations"])
        ]
        missing = [", ".join(sorted(set(c["statuses"]))) for c in data["configurations"]]
    else:
        bars = [
            (
                f"#{r['id']} {data['configurations'][r['configuration']]['label']}",
                r["final"] if r["status"] in FINISHED else None,
                0.0,
                [],
                colors[r["configuration"]],
            )
            for r in data["runs"]
        ]
        missing = [r["status"] for r in data["runs"]]
    x = np.arange(len(bars))
    heights = [b[1] if b[1] is not None else 0.0 for b in bars]
    ax.bar(x, heights, color=[b[4] for b in bars], alpha=0.85)
    for i, (_, mean, std, values, _) in enumerate(bars):
        if mean is None:
            # no finished run here: say why (diverged, interrupted, ...) where the bar would be
            ax.text(i, 0, f" {missing[i]}", ha="center", va="bottom", rotation=90, fontsize=8)
            continue
        if len(values) > 1:
            ax.errorbar(i, mean, yerr=std, color="black", capsize=4, linewidth=1)
            # every seed's own value beside its bar: the spread, not only its summary
            ax.plot([i] * len(values), values, "o", color="black", markersize=3, alpha=0.6)
        d = data["decimals"]
        label = _fmt(mean, d) + (f" ± {_fmt(std, d)}" if len(values) > 1 else "")
        ax.annotate(
            label,
            (i, mean + (std if len(values) > 1 else 0)),
            ha="center",
            va="bottom",
            fontsize=8,
            xytext=(0, 3),
            textcoords="offset points",
        )
    ax.set_xticks(
        x,
        [b[0] for b in bars],
        rotation=30 if len(bars) > 3 else 0,
        ha="right" if len(bars) > 3 else "center",
        fontsize=8,
    )
    direction = "higher is better" if data["higher_is_better"] else "lower is better"
    seeds = " (mean ± std over runs)" if data["mode"] == "configurations" else ""
    ax.set_title(f"final {metric}{seeds}, {direction}")
    ax.set_ylabel(metric)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


# --------------------------------------------------------------------------- the page


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
.meta { color: #555; } img { max-width: 100%; display: block; margin: 0.5em 0; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: left; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.best td { font-weight: bold; } .status-diverged, .status-interrupted { color: #b00; }
"""


def _table(head: list[str], body: list[list[str]], classes: list[str] | None = None) -> str:
    def cell(text: str) -> str:
        numeric = text[:1].isdigit() or text[:1] == "-" and text[1:2].isdigit()
        return f"<td{' class=num' if numeric else ''}>{html.escape(text)}</td>"

    lines = ["<table>", "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for i, cells in enumerate(body):
        cls = f" class={classes[i]}" if classes and classes[i] else ""
        lines.append(f"<tr{cls}>" + "".join(cell(c) for c in cells) + "</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def _runs_table(data: dict[str, Any]) -> str:
    metric = data["metric"]
    head = ["id", "name", *data["varying"], "seed", "status", f"final {metric}", "iteration"]
    head += ["wall time", "samples/s"]
    body, classes = [], []
    for r in data["runs"]:
        it = f"{r['iteration'] or 0}"
        if r["total_iterations"] and r["total_iterations"] != r["iteration"]:
            it += f"/{r['total_iterations']}"
        final = _fmt(r["final"], data["decimals"])
        if r["final"] is not None and r["status"] not in FINISHED:
            final += " (last)"  # the last evaluation before it stopped; not in any mean
        speed = f"{r['samples_per_sec']:,.0f}" if r["samples_per_sec"] else "-"
        body.append(
            [str(r["id"]), r["name"]]
            + [_value_text(r["fields"].get(f)) for f in data["varying"]]
            + [_value_text(r["seed"]), r["status"], final, it]
            + [f"{r['wall_time'] or 0:.1f} s", speed]
        )
        classes.append(f"status-{r['status']}")
    return _table(head, body, classes)


def _configurations_table(data: dict[str, Any]) -> str:
    best = _best(data)
    head = ["configuration", "runs", "seeds", f"final {data['metric']} (mean ± std)", "range"]
    body, classes = [], []
    for c in data["configurations"]:
        f = c["final"]
        d = data["decimals"]
        value = _fmt(f["mean"], d) if f["n"] else "-"
        if f["n"] > 1:
            value += f" ± {_fmt(f['std'], d)}"
        spread = f"{_fmt(min(f['values']), d)}-{_fmt(max(f['values']), d)}" if f["n"] > 1 else "-"
        others = [s for s in c["statuses"] if s not in FINISHED]
        runs = str(len(c["run_ids"])) + (f" ({', '.join(others)})" if others else "")
        seeds = ", ".join(_value_text(s) for s in c["seeds"])
        body.append([c["label"], runs, seeds, value, spread])
        classes.append("best" if c is best and len(data["configurations"]) > 1 else "")
    return _table(head, body, classes)


def _comparison_table(comparison: dict[str, Any]) -> str | None:
    """The summary table of `rnnlab compare`, rebuilt from comparison.json with the same
    code that printed it."""
    from dataclasses import fields

    from rnnlab.experiments.grid import ComparisonResult
    from rnnlab.experiments.table import Row, table_rows

    names = {f.name for f in fields(Row)}
    try:
        rows = [Row(**{k: v for k, v in r.items() if k in names}) for r in comparison["rows"]]
        result = ComparisonResult(
            name=comparison["name"],
            folder=Path("."),
            metric=comparison["metric"],
            higher_is_better=bool(comparison["higher_is_better"]),
            axes=comparison["axes"],
            seeds=comparison.get("seeds") or [],
            rows=rows,
            runs=[],
        )
        head, body = table_rows(result)
    except (TypeError, KeyError, AttributeError, ValueError):
        return None  # written by another rnnlab version: the runs table still shows it all
    return _table(head, body)


def _environments_table(data: dict[str, Any]) -> str:
    body = []
    for env in data["environments"]:
        versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v not in ("", None))
        body.append(
            [
                _ids_text(env["run_ids"]),
                _value_text(env["device"]),
                _value_text(env["precision"]),
                versions or "-",
            ]
        )
    return _table(["runs", "device", "precision", "versions"], body)


def _image(png: bytes, alt: str) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{encoded}" alt="{html.escape(alt)}">'


def render_html(data: dict[str, Any], images: dict[str, bytes]) -> str:
    metric = data["metric"]
    direction = "higher is better" if data["higher_is_better"] else "lower is better"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>rnnlab report: {html.escape(data['title'])}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>rnnlab report: {html.escape(data['title'])}</h1>",
        f"<p class=meta>From the results store in {html.escape(data['runs_dir'])}; metric "
        f"{html.escape(metric)} ({direction}); generated {html.escape(data['generated'])}.</p>",
        f"<p><strong>{html.escape(data['summary'])}</strong></p>",
    ]
    if data["notes"]:
        parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in data["notes"]))
        parts.append("</ul>")
    grouping = (
        "one line per configuration: the mean over its runs, shaded ± one standard deviation"
        if data["mode"] == "configurations"
        else "one line per run"
    )
    parts += [
        "<h2>Learning curves</h2>",
        f"<p class=meta>{grouping}.</p>",
        _image(images["curves"], f"{metric} over iterations"),
        _image(images["loss"], "training loss over iterations"),
        f"<h2>Final {html.escape(metric)}</h2>",
        _image(images["final"], f"final {metric}"),
    ]
    comparison = data["comparison"]
    table = _comparison_table(comparison) if comparison else None
    if comparison and table:
        parts.append(f"<h2>Comparison {html.escape(str(comparison['name']))}</h2>")
        parts.append(
            f"<p class=meta>As saved by rnnlab compare: {html.escape(str(comparison['metric']))}"
            f", seeds {html.escape(', '.join(map(str, comparison.get('seeds') or [])))}; "
            "* = best mean.</p>"
        )
        parts.append(table)
    elif data["mode"] == "configurations":
        parts += ["<h2>Configurations</h2>", _configurations_table(data)]
    varying = ", ".join(data["varying"]) or "none besides the seed and name"
    parts += [
        "<h2>Runs</h2>",
        f"<p class=meta>Config fields that differ between runs: {html.escape(varying)}.</p>",
        _runs_table(data),
        "<h2>Software and device</h2>",
        _environments_table(data),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _plain(value: Any) -> Any:
    """NaN and infinities as null: report.json stays strict JSON that any reader takes."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _write(folder: Path, data: dict[str, Any]) -> dict[str, Path]:
    from rnnlab.training.checkpoint import atomic_write, atomic_write_text

    metric = data["metric"]
    images = {
        "curves": plot_curves(data, "curve", metric, f"{metric} over iterations"),
        "loss": plot_curves(data, "loss", LOSS_METRIC, "training loss over iterations"),
        "final": plot_final(data),
    }
    files = {
        "html": folder / "report.html",
        "json": folder / "report.json",
        "curves": folder / "curves.png",
        "loss": folder / "loss.png",
        "final": folder / "final.png",
    }
    data["files"] = {k: str(v) for k, v in files.items()}
    for key, png in images.items():
        atomic_write(files[key], lambda f, png=png: f.write(png))
    atomic_write_text(files["html"], render_html(data, images))
    text = json.dumps(_plain(data), indent=2, default=str, allow_nan=False)
    atomic_write_text(files["json"], text + "\n")
    return files


__all__ = ["ReportResult", "parse_run_ids", "report", "varying_fields"]
