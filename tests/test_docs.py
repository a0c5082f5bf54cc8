"""The README and docs/ name only code that exists: a moved module breaks this test, not a
reader's first try."""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
IMPORT = re.compile(r"from (rnnlab(?:\.\w+)*) import ([\w, ]+)")
DOTTED = re.compile(r"\brnnlab((?:\.[a-z_]\w*)+)")
FILES = {"rnnlab.db"}  # the results store's file name, not code


def _resolves(dotted: str) -> bool:
    """rnnlab.a.b.c names a module or an attribute reached from one. Attributes come first:
    importing `rnnlab.presets` (a folder of TOML files) would shadow the function."""
    parts = dotted.split(".")
    obj = importlib.import_module(parts[0])
    for depth, name in enumerate(parts[1:], 2):
        if hasattr(obj, name):
            obj = getattr(obj, name)
            continue
        try:
            obj = importlib.import_module(".".join(parts[:depth]))
        except ImportError:
            return False
    return True


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_rnnlab_name_in_the_docs_exists(page):
    text = page.read_text(encoding="utf-8")
    missing = []
    for module, names in IMPORT.findall(text):
        missing += [f"{module}.{n.strip()}" for n in names.split(",") if n.strip()]
    missing += ["rnnlab" + rest.rstrip(".") for rest in DOTTED.findall(text)]
    missing = sorted({m for m in missing if m not in FILES and not _resolves(m)})
    assert missing == [], f"{page.name} names what rnnlab does not have: {missing}"


# -- the commands shown in the docs ---------------------------------------------------------
FENCE = re.compile(r"^```(\w*)\s*$")
NOT_SHELL = {"python", "toml", "json", "text"}


def documented_commands() -> list[tuple[str, str]]:
    """(page, command line) for every `rnnlab ...` line in the pages' shell blocks, and every
    `$ rnnlab ...` line of a console transcript, with continued lines joined."""
    found = []
    for page in PAGES:
        block, shell, line = False, False, ""
        for raw in page.read_text(encoding="utf-8").splitlines():
            fence = FENCE.match(raw.strip())
            if fence:
                block = not block
                shell = block and fence.group(1) not in NOT_SHELL
                continue
            text = raw.strip()
            if not shell or not (line or text.startswith(("rnnlab ", "$ rnnlab "))):
                continue
            line = f"{line} {text}".strip()
            if line.endswith("\\"):
                line = line[:-1]
                continue
            found.append((page.name, line))
            line = ""
    return found


COMMANDS = documented_commands()


def _words(line: str) -> list[str]:
    """The command's arguments: no `rnnlab`, no comment, nothing from a pipe or a
    redirection on."""
    words = shlex.split(line.removeprefix("$ "), comments=True)
    ends = [i for i, word in enumerate(words) if word in ("|", ">", ">>", "2>")]
    return words[1 : ends[0] if ends else None]


def test_the_docs_show_the_commands():
    shown = {_words(line)[0] for _, line in COMMANDS}
    assert {"train", "compare", "sweep", "report", "sample", "tag", "translate"} <= shown


def _missing_file(name: str | None) -> bool:
    return bool(name) and name.endswith(".toml") and not Path(name).is_file()


@pytest.mark.parametrize("page,line", COMMANDS, ids=[f"{p}:{c[:60]}" for p, c in COMMANDS])
def test_every_documented_command_is_accepted(page, line, tmp_path, capsys):
    """Each command parses; what can be checked without training is checked: a train
    command's config (preset, flags, --set fields and values), a comparison's and a sweep's
    whole plan (their --dry-run). A `$ rnnlab` transcript line often shows an error on
    purpose (its output follows it), so it is only parsed."""
    from rnnlab.api import make_config
    from rnnlab.cli import collect_overrides, config_source, main, parse_command_line

    words = _words(line)
    args = parse_command_line(words)
    if line.startswith("$ "):
        return
    if _missing_file(getattr(args, "config", None)) or _missing_file(getattr(args, "sweep", None)):
        return  # a file of the reader's own: the parse above is all there is to check
    if args.command == "train" and not args.resume:
        make_config(config_source(args), collect_overrides(args))
    elif args.command in ("compare", "sweep") and not args.list:
        own = ["--dry-run", "--runs-dir", str(tmp_path), "--data-dir", str(DATA)]
        code = main([*words, *own])
        assert code == 0, capsys.readouterr().err


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_placeholder_is_left_in_the_docs(page):
    """A figure still to be measured is written as a placeholder while the run goes on; none
    may reach a reader."""
    text = page.read_text(encoding="utf-8")
    left = re.findall(r"\b(?:TODO|FIXME|TBD|XXX|FINAL\d\w*|[A-Z]+_(?:SHORT|TIME|FIGURE))\b", text)
    assert left == []
