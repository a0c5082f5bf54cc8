"""`rnnlab translate CKPT TEXT...`: the answers of a trained encoder-decoder."""

from __future__ import annotations

import argparse
import sys

from rnnlab.results.jsontext import json_text


def cmd_translate(args: argparse.Namespace) -> int:
    from rnnlab.inference.translation import translate_with_notes

    answered = translate_with_notes(args.checkpoint, args.texts, device=args.device or "auto")
    if args.json:
        # the notes travel with their inputs: a script need not match stderr lines to inputs
        rows = [
            {"input": text, "answer": answer, "note": note}
            for text, (answer, note) in zip(args.texts, answered)
        ]
        print(json_text(rows, indent=None))
        return 0
    for _, note in answered:
        if note:
            print(f"rnnlab: note: {note}", file=sys.stderr)
    for text, (answer, _) in zip(args.texts, answered):
        print(answer if len(args.texts) == 1 else f"{text} -> {answer}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    from rnnlab.cli import DEVICE_HELP, add_common_args

    p = subparsers.add_parser(
        "translate", help='answer inputs with a seq2seq checkpoint, e.g. "123+45" -> 168'
    )
    p.add_argument("checkpoint", help="a checkpoint of a seq2seq run (last.pt / best.pt)")
    p.add_argument("texts", nargs="+", metavar="TEXT", help="source strings, e.g. 123+45")
    p.add_argument("--device", default=None, help=DEVICE_HELP)
    p.add_argument(
        "--json",
        action="store_true",
        help='print [{"input", "answer", "note"}, ...]: note is why an input unlike the '
        "training examples is likely answered wrong, else null",
    )
    add_common_args(p, overrides=False, data=False, runs=False)
    p.set_defaults(func=cmd_translate)
