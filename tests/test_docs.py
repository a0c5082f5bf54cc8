"""The README and docs/ name only code that exists: a moved module breaks this test, not a
reader's first try."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
IMPORT = re.compile(r"from (rnnlab(?:\.\w+)*) import ([\w, ]+)")
DOTTED = re.compile(r"\brnnlab((?:\.[a-z_]\w*)+)")
FILES = {"rnnlab.db"}  # the results store's file name, not code


def _resolves(dotted: str) -> bool:
    """rnnlab.a.b.c names a module or an attribute reached from one."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                obj = getattr(obj, name)
        except AttributeError:
            return False
        return True
    return False


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_rnnlab_name_in_the_docs_exists(page):
    text = page.read_text(encoding="utf-8")
    missing = []
    for module, names in IMPORT.findall(text):
        missing += [f"{module}.{n.strip()}" for n in names.split(",") if n.strip()]
    missing += ["rnnlab" + rest.rstrip(".") for rest in DOTTED.findall(text)]
    missing = sorted({m for m in missing if m not in FILES and not _resolves(m)})
    assert missing == [], f"{page.name} names what rnnlab does not have: {missing}"
