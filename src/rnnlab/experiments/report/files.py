"""Where a report goes and writing it there: curves.png, loss.png, final.png, report.html
and report.json, each replaced in one step."""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

from rnnlab.errors import RnnlabError
from rnnlab.experiments.ranges import ranges_text
from rnnlab.experiments.report.gather import LOSS_METRIC
from rnnlab.experiments.report.page import render_html
from rnnlab.experiments.report.plots import plot_curves, plot_final
from rnnlab.results.atomic import atomic_write, atomic_write_text
from rnnlab.results.jsontext import json_text

# The report's files by kind, in the folder it goes to.
FILE_NAMES = {
    "html": "report.html",
    "json": "report.json",
    "curves": "curves.png",
    "loss": "loss.png",
    "final": "final.png",
}


def default_slug(
    comparison: str | None, group: str | None, name: str | None, task: str | None, ids: Any
) -> str:
    """The report's folder under RUNS/reports: the comparison's name (given by name or as
    --group compare:NAME, and filtered no further), else one part per filter ("name-seed-c",
    "task-classify", "runs-3_5_8", "runs-1-9"), so different selections never share a folder.
    Where the parts cannot spell the selection exactly (a "*" or another character a folder
    name drops, a list of run ids too long for a name) a short hash of it is added: --name
    'seed*' and --name seedall are two reports."""
    from rnnlab.results.records import slug

    if group and group.startswith("compare:"):  # --group compare:NAME is comparison NAME
        comparison = comparison or group[len("compare:") :]
    if comparison and not (name or task or ids):
        return slug(comparison)
    if comparison:  # filtered further: not the comparison's own report, nor its folder
        group = f"compare:{comparison}"
    parts = []
    exact = True
    for kind, value in (("group", group), ("name", name), ("task", task)):
        if value:
            parts.append(f"{kind}-{slug(value.replace('*', 'all'))}")
            exact = exact and slug(value) == value
    if ids:  # sorted, ranges kept: --runs 3,99-5000 -> runs-3_99-5000
        text = ranges_text(list(ids), sep="_")
        parts.append("runs-" + (text if len(text) <= 40 else text[:40] + "-more"))
        exact = exact and len(text) <= 40
    if not exact:
        selection = json.dumps([group, name, task, list(ids or [])])
        parts.append(hashlib.sha256(selection.encode("utf-8")).hexdigest()[:8])
    return "-".join(parts) or "all-runs"


def check_writable(folder: Path) -> None:
    """Called before anything is drawn: a wrong --out should cost nothing and say which flag
    to fix."""
    if folder.exists() and not folder.is_dir():
        # mkdir would say only "File exists"
        raise RnnlabError(
            f"cannot write the report to {folder}: it is a file, not a folder; "
            "choose a folder with --out"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise RnnlabError(
            f"cannot write the report to {folder} ({exc.strerror or exc}); "
            "choose a writable folder with --out"
        ) from None
    # a folder where a file of the report goes would stop the writing halfway (the PNGs
    # replaced, the page not): refuse it before anything is drawn or written
    for name in FILE_NAMES.values():
        if (folder / name).is_dir():
            raise RnnlabError(
                f"cannot write the report to {folder}: {folder / name} is a folder; "
                "move it aside or choose another folder with --out"
            )


def write_report(folder: Path, data: dict[str, Any]) -> dict[str, Path]:
    """Draw the figures and write every file of the report; their paths by kind."""

    metric = data["metric"]
    images = {
        "curves": plot_curves(data, "curve", metric, f"{metric} over iterations"),
        "loss": plot_curves(data, "loss", LOSS_METRIC, "training loss over iterations"),
        "final": plot_final(data),
    }
    files = {kind: folder / name for kind, name in FILE_NAMES.items()}
    data["files"] = {k: str(v) for k, v in files.items()}
    for key, png in images.items():
        atomic_write(files[key], lambda f, png=png: f.write(png))
    atomic_write_text(files["html"], render_html(data, images))
    text = json_text(data)
    atomic_write_text(files["json"], text + "\n")
    return files
