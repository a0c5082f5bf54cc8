"""`rnnlab runs`: the recorded runs, one line each, or one run in full (`rnnlab runs ID`)."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from rnnlab.errors import ConfigError, RnnlabError
from rnnlab.results.jsontext import json_text
from rnnlab.results.store import STATUSES

FILTERS = ("name", "task", "status", "group", "limit")
NAME_WIDTH = 48  # the widest name column; a longer name ends in "~"


def cmd_runs(args: argparse.Namespace) -> int:
    from rnnlab import api

    if args.id is not None:
        given = [f"--{key}" for key in FILTERS if getattr(args, key) is not None]
        if given:
            raise ConfigError(
                f"give a run id or filters ({', '.join(given)}), not both; "
                "rnnlab runs ID shows one run in full"
            )
        details = api.run_details(args.id, args.runs_dir)
        if args.json:
            print(json_text(details))
        else:
            print(render_details(details))
        return 0
    rows = api.runs(
        args.runs_dir,
        name=args.name,
        task=args.task,
        status=args.status,
        group=args.group,
        limit=args.limit,
    )
    if args.json:
        print(json_text(rows))
        return 0
    if not rows:
        filtered = any(getattr(args, key) is not None for key in FILTERS[:4])
        if filtered and api.runs(args.runs_dir, limit=1):
            print("no recorded run matches the filter (rnnlab runs without it lists them all)")
        else:
            print("no runs recorded yet (train one with: rnnlab train --preset seed-c)")
        return 0
    # names as long as they are (grid runs differ at the end: ex2-lstm[layers=3,fc_hidden=0]),
    # up to a width that keeps a line readable
    width = min(max(4, *(len(r["name"]) for r in rows)), NAME_WIDTH)
    print(
        f"{'id':>4}  {'name':<{width}} {'task':<9} {'status':<11} {'iter':>6} {'metric':>16} "
        f"{'time':>8}"
    )
    for r in rows:
        shown = _final_metric(r)
        name = r["name"] if len(r["name"]) <= width else r["name"][: width - 1] + "~"
        print(
            f"{r['id']:>4}  {name:<{width}} {r['task']:<9} {r['status']:<11} "
            f"{r['iteration'] or 0:>6} {shown:>16} {r['wall_time'] or 0:>7.1f}s"
        )
    return 0


def _final_metric(run: dict[str, Any]) -> str:
    """'test_acc=0.953' for the listing, or '-' without one: a run that failed before its
    first evaluation, or a value that is no number (null, as other programs write NaN)."""
    metrics = run.get("final_metrics") or {}
    key = primary_metric(run["task"])
    value = metrics.get(key) if isinstance(metrics, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    return f"{key}={value:.3f}"


def primary_metric(task: str) -> str:
    from rnnlab.tasks import get_task_class

    try:
        return get_task_class(task).primary_metric
    except RnnlabError:
        return ""


def render_details(run: dict[str, Any]) -> str:
    """One run as text: what it is, how it went, its metrics over time and its config."""
    from rnnlab.config import from_dict, to_toml

    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run["created"]))
    done = f"{run['iteration'] or 0}/{run['total_iterations'] or '?'} iterations"
    speed = ""
    if run.get("samples_per_sec"):
        speed = ", " + _speed_text(run["task"], run["config"], run["samples_per_sec"])
    lines = [
        f"run {run['id']}: {run['name']} ({run['task']}, {run['status']})",
        f"  started {when}; {done} in {run['wall_time'] or 0:.1f} s{speed}",
        f"  seed {run['seed']}, device {run['device'] or '-'}, "
        f"precision {run['precision'] or '-'}"
        + (f", group {run['group_name']}" if run.get("group_name") else ""),
        f"  folder {run['run_dir']}",
        f"  checkpoint {run['checkpoint'] or '-'}",
    ]
    versions = run.get("versions") or {}
    shown = [f"{k} {versions[k]}" for k in ("rnnlab", "torch", "python") if versions.get(k)]
    if shown:
        lines.append("  versions: " + ", ".join(shown))
    if run.get("message"):
        lines.append(f"  note: {run['message']}")
    for entry in run.get("resumes") or []:
        changed = "; ".join(entry.get("changes") or []) or "no settings changed"
        lines.append(
            f"  resumed at iteration {entry.get('iteration')} from {entry.get('checkpoint')}: "
            f"{changed}"
        )
    for label, key in (("final", "final_metrics"), ("best", "best_metrics")):
        values = run.get(key) or {}
        if values:
            lines.append(
                f"  {label}: " + ", ".join(f"{k} {_number(v, k)}" for k, v in values.items())
            )
    history = run.get("history") or []
    if history:
        order = list(run.get("final_metrics") or {})
        lines += ["", "metrics over time:", *_history_table(history, order)]
    try:
        text = to_toml(from_dict(run["config"]))
    except RnnlabError as exc:  # written by another rnnlab version: shown as it is stored
        text = f"# not a config this rnnlab reads ({exc}); as stored:\n" + json.dumps(
            run["config"], indent=2
        )
    lines += ["", "config:", *("  " + line if line else "" for line in text.splitlines())]
    return "\n".join(lines)


def _speed_text(task: str, config: dict[str, Any], samples_per_sec: float) -> str:
    """The speed in the task's own unit (characters for a language model), as training said."""
    from rnnlab.config import from_dict
    from rnnlab.tasks import get_task_class

    try:
        return get_task_class(task).speed_text(from_dict(config), samples_per_sec)
    except RnnlabError:  # a task or config this rnnlab no longer reads
        return f"{samples_per_sec:,.0f} samples/s"


def _history_table(history: list[dict[str, Any]], order: list[str]) -> list[str]:
    """Metrics over time as aligned columns, in the order the run reports them."""
    logged = {k for entry in history for k in entry} - {"iteration", "wall_time"}
    names = [n for n in order if n in logged] + sorted(logged - set(order))
    columns = ["iteration", *names, "time"]
    rows = [
        [
            str(e["iteration"]),
            *(_number(e.get(n), n) for n in names),
            f"{e.get('wall_time') or 0:.1f} s",
        ]
        for e in history
    ]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    out = ["  " + "  ".join(c.rjust(w) for c, w in zip(columns, widths))]
    out += ["  " + "  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in rows]
    return out


def _number(value: Any, name: str) -> str:
    """Percentages (accuracies) with 2 decimals, other figures (losses, bpc) with 4."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}" if name.endswith("acc") else f"{value:.4f}"
    return str(value)


def register(subparsers: argparse._SubParsersAction) -> None:
    from rnnlab.cli import add_common_args, whole_number

    p = subparsers.add_parser(
        "runs",
        help="list recorded runs, or show one in full",
        description=(
            "List the runs recorded in the results store, newest first; `rnnlab runs ID` "
            "shows one run in full: config, versions, timing and metrics over time."
        ),
    )
    p.add_argument("id", nargs="?", type=_run_id, help="a run id: show that run in full")
    p.add_argument("--name", help="filter by name (* is a wildcard)")
    p.add_argument("--task", help="filter by task")
    p.add_argument("--status", help=" | ".join(STATUSES))
    p.add_argument("--group", help="only the runs of one comparison or sweep")
    p.add_argument("--limit", type=whole_number, default=None, help="only the N most recent runs")
    p.add_argument(
        "--json",
        action="store_true",
        help="print the runs (or the one run, with its metrics over time) as JSON",
    )
    add_common_args(p, overrides=False, data=False)
    p.set_defaults(func=cmd_runs)


def _run_id(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(
            f"a run id is a whole number, 1 or more (got {text!r}); rnnlab runs lists them"
        )
    return int(text)
