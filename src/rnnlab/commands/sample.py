"""`rnnlab sample CKPT`: text from a character language model checkpoint."""

from __future__ import annotations

import argparse
import sys


def cmd_sample(args: argparse.Namespace) -> int:
    import torch

    from rnnlab.cli import unshowable
    from rnnlab.config import MAX_THREADS
    from rnnlab.errors import ConfigError
    from rnnlab.inference.sampling import sample_pieces

    if not 1 <= args.threads <= MAX_THREADS:
        raise ConfigError(f"--threads must be from 1 to {MAX_THREADS}, got {args.threads}")
    # One character at a time is a chain of tiny matrix products: more threads only wait.
    torch.set_num_threads(args.threads)
    pieces = sample_pieces(
        args.checkpoint,
        prime=args.prime,
        length=args.length,
        temperature=args.temperature,
        top_k=args.top_k,
        seed=args.seed,
        device=args.device or "auto",
    )
    try:
        for piece in pieces:  # shown as it is drawn; Ctrl-C keeps what is printed
            sys.stdout.write(piece)
            if piece == "\n" or len(piece) > 1:
                sys.stdout.flush()
        sys.stdout.write("\n")
    except UnicodeEncodeError as exc:
        raise unshowable(exc) from None
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    from rnnlab.cli import DEVICE_HELP, add_common_args, whole_number

    p = subparsers.add_parser(
        "sample", help="generate text from a character language model checkpoint"
    )
    p.add_argument("checkpoint", help="a charlm checkpoint (.pt)")
    p.add_argument("--prime", default="ROMEO:", help="text that starts the sample")
    p.add_argument("--length", type=whole_number, default=500, help="characters to generate")
    p.add_argument("--temperature", type=float, default=0.8, help="softmax temperature; 0 = greedy")
    p.add_argument(
        "--top-k", type=whole_number, default=None, help="draw from the K likeliest only"
    )
    p.add_argument("--seed", type=whole_number, default=None, help="seed for a reproducible sample")
    p.add_argument("--device", default=None, help=DEVICE_HELP)
    p.add_argument(
        "--threads",
        type=whole_number,
        default=1,
        help="CPU threads (default 1, the fastest for one sample)",
    )
    add_common_args(p, overrides=False, data=False, runs=False)
    p.set_defaults(func=cmd_sample)
