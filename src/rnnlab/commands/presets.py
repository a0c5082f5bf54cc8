"""`rnnlab presets`: the shipped presets, one line each."""

from __future__ import annotations

import argparse

from rnnlab.cli import add_common_args


def cmd_presets(args: argparse.Namespace) -> int:
    from rnnlab.config import presets

    for name, description in presets().items():
        print(f"  {name:<20} {description}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("presets", help="list the shipped presets")
    add_common_args(p, overrides=False, data=False, runs=False)  # accepted, as everywhere
    p.set_defaults(func=cmd_presets)
