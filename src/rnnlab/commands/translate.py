"""`rnnlab translate CKPT TEXT...`: the answers of a trained encoder-decoder."""

from __future__ import annotations

import argparse
import sys
import warnings


def cmd_translate(args: argparse.Namespace) -> int:
    from rnnlab.inference.translation import UnlikeTraining, translate_many

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnlikeTraining)
        answers = translate_many(args.checkpoint, args.texts, device=args.device or "auto")
    for warning in caught:
        if issubclass(warning.category, UnlikeTraining):
            print(f"rnnlab: note: {warning.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)  # fmt: skip
    for text, answer in zip(args.texts, answers):
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
    add_common_args(p, overrides=False, data=False, runs=False)
    p.set_defaults(func=cmd_translate)
