"""Strict JSON for files and --json output: NaN and infinities as null.

json.dumps writes float('nan') as the bare word NaN, which jq, JavaScript and most other
readers refuse; a diverged run's loss or a tagger's oov_acc with no unknown word is NaN."""

from __future__ import annotations

import json
import math
from typing import Any


def json_safe(value: Any) -> Any:
    """`value` with every NaN or infinite float, however deep, as None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def json_text(value: Any, indent: int | None = 2) -> str:
    """`value` as strict JSON; paths, dates and other objects as their text."""
    return json.dumps(json_safe(value), indent=indent, default=str, allow_nan=False)
