"""The report's figures as PNG bytes: curves over iterations and final values, drawn with
matplotlib, which is imported only here and only when a figure is drawn."""

from __future__ import annotations

import functools
import io
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from rnnlab.experiments.report.gather import FINISHED, number_text

_F = TypeVar("_F", bound=Callable[..., bytes])

# Fonts with the glyphs matplotlib's DejaVu Sans lacks (CJK, Arabic, Devanagari, ...),
# tried after it, glyph by glyph, when installed: run names are whatever users type.
FALLBACK_FONTS = (
    "Noto Sans CJK JP",
    "Noto Sans CJK SC",
    "Noto Sans CJK TC",
    "Noto Sans CJK KR",
    "Source Han Sans",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
    "IPAGothic",
    "IPAexGothic",
    "Noto Sans",
    "Noto Sans Arabic",
    "Noto Sans Hebrew",
    "Noto Sans Devanagari",
    "Noto Sans Thai",
    "Arial Unicode MS",
    "Microsoft YaHei",
    "Yu Gothic",
    "Malgun Gothic",
    "PingFang SC",
    "Hiragino Sans",
    "Apple SD Gothic Neo",
)


def _fallback_families() -> list[str]:
    # only installed ones: a missing family named in rcParams makes matplotlib log
    # "findfont: Font family ... not found" for every text it draws
    from matplotlib.font_manager import fontManager

    installed = {f.name for f in fontManager.ttflist}
    return [name for name in FALLBACK_FONTS if name in installed]


def text_safe(draw: _F) -> _F:
    """Draw with fallback fonts for any script and without matplotlib's "Glyph ... missing
    from font" warnings: a run named 日本語 must not spill warnings on a clean stderr. A
    glyph no installed font has is drawn as a box, which the page's HTML tables show right."""

    @functools.wraps(draw)
    def wrapper(*args: Any, **kwargs: Any) -> bytes:
        from matplotlib import rc_context

        fallbacks = _fallback_families()
        rc = {"font.family": ["sans-serif", *fallbacks]} if fallbacks else {}
        # rc_context and catch_warnings restore the caller's settings and filters after
        with rc_context(rc), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font")
            return draw(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [colormaps["tab20"](i) for i in range(n)]
    return [colormaps["viridis"](i / (n - 1)) for i in range(n)]


def _left_out(c: dict[str, Any]) -> str:
    """ "1 interrupted, 1 diverged": a configuration's runs that are in no mean."""
    statuses = [st for st in c["statuses"] if st not in FINISHED]
    return ", ".join(f"{statuses.count(st)} {st}" for st in sorted(set(statuses)))


def _line(label: str | None, curve: dict[str, Any], color: Any, finished: bool) -> dict[str, Any]:
    """One line of a plot; a run that did not finish is dashed, as in no mean."""
    mean = "mean" in curve
    return {
        "label": label,
        "x": curve["iteration"],
        "y": curve["mean"] if mean else curve["value"],
        "std": curve["std"] if mean else None,
        "color": color,
        "dashed": not finished,
    }


def _config_series(data: dict[str, Any], key: str, colors: list[Any]) -> list[dict[str, Any]]:
    """A configuration's mean over its finished runs, then each unfinished run, dashed:
    averaging a run only up to where it stopped would make the mean jump there."""
    runs = {r["id"]: r for r in data["runs"]}
    out = []
    for c, color in zip(data["configurations"], colors):
        count, left_out = len(c[key]["run_ids"]), _left_out(c)
        if count:
            what = f"mean of {count} runs" if count > 1 else "1 run"
            label = f"{c['label']} ({what}{f'; left out: {left_out}' if left_out else ''})"
            out.append(_line(label, c[key], color, True))
        unnamed: str | None = None if count else f"{c['label']} (no finished run: {left_out})"
        for run_id in c["run_ids"]:
            run = runs[run_id]
            if run["status"] not in FINISHED and run[key]["iteration"]:
                # the configuration is named once: by its mean, else its first run
                out.append(_line(unnamed, run[key], color, False))
                unnamed = None
    return out


def _series(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The lines of one plot: per configuration (mean and std) or per run."""
    colors = _colors(len(data["configurations"]))
    if data["mode"] == "configurations":
        return _config_series(data, key, colors)
    out = []
    for r in data["runs"]:
        c = data["configurations"][r["configuration"]]
        status = "" if r["status"] == "completed" else f" ({r['status']})"
        label = f"#{r['id']} {c['label']}{status}"
        out.append(_line(label, r[key], colors[r["configuration"]], r["status"] in FINISHED))
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


@text_safe
def plot_curves(data: dict[str, Any], key: str, ylabel: str, title: str) -> bytes:
    """`key` ("curve" or "loss") over iterations: per configuration or per run."""
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
            linewidth=1 if s["dashed"] else 1.5,
            linestyle="--" if s["dashed"] else "-",
            alpha=0.7 if s["dashed"] else 1.0,
        )
        # one run has no std (None): no band, rather than one of zero width
        if s["std"] and all(v is not None for v in s["std"]):
            std = np.asarray(s["std"])
            ax.fill_between(x, y - std, y + std, color=s["color"], alpha=0.2, linewidth=0)
    if not lines:
        ax.text(0.5, 0.5, f"no {ylabel} recorded", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("iteration")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    _legend(ax, sum(s["label"] is not None for s in lines))
    return _png(fig)


def final_bars(data: dict[str, Any]) -> tuple[list[tuple[Any, ...]], list[str]]:
    """The bars of the final plot, (label, mean, std, values, color), and for each what
    stands where a bar has no value. A configuration's label says how many finished runs
    its bar averages: the runs that did not finish are in no mean."""
    colors = _colors(len(data["configurations"]))
    if data["mode"] == "configurations":
        bars = [
            (
                f"{c['label']} (n={c['final']['n']})",
                c["final"]["mean"],
                c["final"]["std"],
                c["final"]["values"],
                colors[i],
            )
            for i, c in enumerate(data["configurations"])
        ]
        return bars, [", ".join(sorted(set(c["statuses"]))) for c in data["configurations"]]
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
    return bars, [r["status"] for r in data["runs"]]


@text_safe
def plot_final(data: dict[str, Any]) -> bytes:
    """A bar per configuration (mean, std and each run's value) or per run."""
    import numpy as np

    fig, ax = _figure()
    metric = data["metric"]
    bars, missing = final_bars(data)
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
        label = number_text(mean, d) + (f" ± {number_text(std, d)}" if len(values) > 1 else "")
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
    seeds = " (mean ± std over finished runs)" if data["mode"] == "configurations" else ""
    ax.set_title(f"final {metric}{seeds}, {direction}")
    ax.set_ylabel(metric)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)
