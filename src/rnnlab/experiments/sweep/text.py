"""How a sweep writes values, metrics, parameters and storage URLs in its lines and files."""

from __future__ import annotations

import re
from typing import Any

from rnnlab.experiments.compare import short_field


def params_text(params: dict[str, Any], short: bool = False) -> str:
    """`train.lr=0.01 train.optimizer=adam`; `short` names the fields as `short_names` does."""
    names = short_names(list(params)) if short else {k: k for k in params}
    return " ".join(f"{names[k]}={value_text(v)}" for k, v in params.items())


def short_names(fields: list[str]) -> dict[str, str]:
    """train.lr -> lr, unless two swept fields share the last part."""
    last = [short_field(f) for f in fields]
    return {f: (s if last.count(s) == 1 else f) for f, s in zip(fields, last)}


def value_text(value: Any) -> str:
    """A parameter value as a config file would spell it, floats to 4 significant digits."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def metric_text(value: float | None, metric: str = "") -> str:
    """Accuracies (percent) with 2 decimals, losses and the like with 4."""
    if value is None:
        return "-"
    return f"{value:.2f}" if "acc" in metric or "exact" in metric else f"{value:.4f}"


def split_text(split: str) -> str:
    """Where a sweep's objective is measured, as its lines and files say it."""
    return {
        "validation": "validation",
        "test": "test: the task has no validation data",
        "training": "training data: the task has no validation data",
    }.get(split, split)


def masked_url(url: str) -> str:
    """A storage URL without its password, for printing and for sweep.json."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)
