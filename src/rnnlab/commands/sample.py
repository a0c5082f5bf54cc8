"""`rnnlab sample CKPT`: text from a character language model checkpoint."""

from __future__ import annotations

import argparse


def cmd_sample(args: argparse.Namespace) -> int:
    from rnnlab.inference.sampling import sample

    text = sample(
        args.checkpoint,
        prime=args.prime,
        length=args.length,
        temperature=args.temperature,
        top_k=args.top_k,
        seed=args.seed,
        device=args.device or "auto",
    )
    print(text)
    return 0


def register(subparsers) -> None:
    from rnnlab.cli import add_common_args

    p = subparsers.add_parser(
        "sample", help="generate text from a character language model checkpoint"
    )
    p.add_argument("checkpoint", help="a charlm checkpoint (.pt)")
    p.add_argument("--prime", default="ROMEO:", help="text that starts the sample")
    p.add_argument("--length", type=int, default=500, help="characters to generate")
    p.add_argument("--temperature", type=float, default=0.8, help="softmax temperature; 0 = greedy")
    p.add_argument("--top-k", type=int, default=None, help="draw from the K likeliest only")
    p.add_argument("--seed", type=int, default=None, help="seed for a reproducible sample")
    p.add_argument("--device", default=None, help="auto | cpu | cuda | mps")
    add_common_args(p, overrides=False)
    p.set_defaults(func=cmd_sample)
