"""The report as one self-contained HTML page: its tables, style and embedded PNGs."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from rnnlab.experiments.report.gather import (
    FINISHED,
    best_configuration,
    number_text,
    value_text,
)

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
        final = number_text(r["final"], data["decimals"])
        if r["final"] is not None and r["status"] not in FINISHED:
            final += " (last)"  # the last evaluation before it stopped; not in any mean
        speed = f"{r['samples_per_sec']:,.0f}" if r["samples_per_sec"] else "-"
        body.append(
            [str(r["id"]), r["name"]]
            + [value_text(r["fields"].get(f)) for f in data["varying"]]
            + [value_text(r["seed"]), r["status"], final, it]
            + [f"{r['wall_time'] or 0:.1f} s", speed]
        )
        classes.append(f"status-{r['status']}")
    return _table(head, body, classes)


def _configurations_table(data: dict[str, Any]) -> str:
    best = best_configuration(data)
    head = ["configuration", "runs", "seeds", f"final {data['metric']} (mean ± std)", "range"]
    body, classes = [], []
    for c in data["configurations"]:
        f = c["final"]
        d = data["decimals"]
        value = number_text(f["mean"], d) if f["n"] else "-"
        spread = "-"
        if f["n"] > 1:
            value += f" ± {number_text(f['std'], d)}"
            spread = f"{number_text(min(f['values']), d)}-{number_text(max(f['values']), d)}"
        others = [s for s in c["statuses"] if s not in FINISHED]
        runs = str(len(c["run_ids"])) + (f" ({', '.join(others)})" if others else "")
        seeds = ", ".join(value_text(s) for s in c["seeds"])
        body.append([c["label"], runs, seeds, value, spread])
        classes.append("best" if c is best and len(data["configurations"]) > 1 else "")
    return _table(head, body, classes)


def _comparison_table(comparison: dict[str, Any]) -> str | None:
    """The summary table of `rnnlab compare`, rebuilt from comparison.json with the same
    code that printed it."""
    from dataclasses import fields

    from rnnlab.experiments.compare import ComparisonResult
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
                value_text(env["device"]),
                value_text(env["precision"]),
                versions or "-",
            ]
        )
    return _table(["runs", "device", "precision", "versions"], body)


def _image(png: bytes, alt: str) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{encoded}" alt="{html.escape(alt)}">'


def render_html(data: dict[str, Any], images: dict[str, bytes]) -> str:
    """The whole page, with the PNGs in `images` ("curves", "loss", "final") embedded."""
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
        "one line per configuration: the mean over its finished runs, shaded ± one standard "
        "deviation (sample std), at the iterations all of them reached"
        if data["mode"] == "configurations"
        else "one line per run"
    )
    if any(r["status"] not in FINISHED for r in data["runs"]):
        grouping += (
            "; runs that did not finish are dashed, up to their last evaluation, and in no mean"
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
    covers = data.get("comparison_covers", True)
    if comparison and table:
        if not covers and data["mode"] == "configurations":
            # the saved table is of other runs or another metric: this selection's own first
            parts += ["<h2>Configurations</h2>", _configurations_table(data)]
        parts.append(f"<h2>Comparison {html.escape(str(comparison['name']))}</h2>")
        parts.append(
            f"<p class=meta>As saved by rnnlab compare: {html.escape(str(comparison['metric']))}"
            f", seeds {html.escape(', '.join(map(str, comparison.get('seeds') or [])))}; "
            "* = best mean."
            + (
                f" It covers all the comparison's runs and its metric, not only this "
                f"report's selection ({html.escape(data['selection'])}, "
                f"{html.escape(metric)}): the figures above and below are the selection's.</p>"
                if not covers
                else "</p>"
            )
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


def _ids_text(ids: list[int]) -> str:
    """[1, 2, 3, 7] -> "1-3, 7"."""
    parts: list[str] = []
    for i in sorted(ids):
        if parts and parts[-1].split("-")[-1] == str(i - 1):
            parts[-1] = f"{parts[-1].split('-')[0]}-{i}"
        else:
            parts.append(str(i))
    return ", ".join(parts)
