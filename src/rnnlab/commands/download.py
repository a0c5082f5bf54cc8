"""`rnnlab download`: fetch and verify MNIST and Fashion-MNIST."""

from __future__ import annotations

import argparse

from rnnlab.cli import add_common_args


def cmd_download(args: argparse.Namespace) -> int:
    from rnnlab.data.download import download
    from rnnlab.data.images import get_dataset

    for name in args.datasets:  # every name first: a typo must not follow a download
        get_dataset(name)
    for name in args.datasets:
        print(f"{name}: ready in {download(name, args.data_dir)[0]}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("download", help="fetch and verify MNIST / Fashion-MNIST")
    p.add_argument("datasets", nargs="+", help="mnist, fashion-mnist")
    add_common_args(p, overrides=False, runs=False)
    p.set_defaults(func=cmd_download)
