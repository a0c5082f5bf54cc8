"""`rnnlab train`: train a preset or config file, resume a checkpoint, or show the config
a run would use (--dry-run)."""

from __future__ import annotations

import argparse
from typing import Any

from rnnlab.cli import add_common_args, collect_overrides, config_source, size_text
from rnnlab.errors import ConfigError, RnnlabError
from rnnlab.results.jsontext import json_text


def cmd_train(args: argparse.Namespace) -> int:
    from rnnlab import api

    if args.resume and (args.preset or args.config):
        raise RnnlabError("--resume takes the config from the checkpoint; drop --preset/--config")
    source = config_source(args)
    if source is None and not args.resume:
        raise RnnlabError(
            "say what to train: --preset NAME or --config FILE.toml (rnnlab presets lists them)"
        )
    if args.dry_run:
        if args.resume:
            raise ConfigError(
                "--dry-run shows a new run's config; a checkpoint's is shown by rnnlab inspect CKPT"
            )
        cfg = api.make_config(source, collect_overrides(args))
        if args.save:  # refused by the dry run as by the run itself
            from rnnlab.training.checkpoint import check_save_target

            check_save_target(args.save)
        return show_config(cfg, args)
    result = api.train(
        source,
        overrides=collect_overrides(args),
        data_dir=args.data_dir,
        runs_dir=args.runs_dir,
        resume=args.resume,
        save=args.save,
        # --json keeps stdout one JSON document: the progress lines would break it
        verbose=not (args.quiet or args.json),
    )
    if args.json:
        print(json_text(_result_json(result)))
    return 0


def show_config(cfg: Any, args: argparse.Namespace) -> int:
    """`train --dry-run`: the config a run would use, as TOML that `--config` takes back
    (or JSON), with its size; nothing is trained or written."""
    from rnnlab.config import to_toml
    from rnnlab.tasks import get_task_class
    from rnnlab.tasks.sizing import parameter_count

    parameters = parameter_count(cfg, args.data_dir)
    if args.json:
        print(json_text({"config": cfg.to_dict(), "parameters": parameters}))
        return 0
    size = size_text(parameters)
    e, n = cfg.train.epochs, cfg.train.iters
    length = f"{e:g} epoch{'s' * (e != 1)}" if e else f"{n} iteration{'s' * (n != 1)}"
    name = cfg.name or cfg.task  # as the run folder is named
    print(f"# {name}: {size}, {length} of batch {cfg.train.batch_size}; nothing trained")
    print("# (--dry-run). Saved as a file, this trains with: rnnlab train --config FILE.toml")
    for note in get_task_class(cfg.task).config_notes(cfg):  # as the run would say them
        print(f"# {note}")
    print(to_toml(cfg), end="")
    return 0


def _result_json(result: Any) -> dict[str, Any]:
    return {
        "run_id": result.run_id,
        "status": result.status,
        "iteration": result.iteration,
        "metrics": result.metrics,
        "best": result.best,
        "wall_time": result.wall_time,
        "samples_per_sec": result.samples_per_sec,
        "precision": result.precision,
        "checkpoint": str(result.checkpoint),
        "saved": result.extra.get("saved"),  # the --save copy, null without --save
        "run_dir": str(result.run_dir),
    }


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train a preset or config file")
    p.add_argument("--preset", help="preset name (rnnlab presets lists them)")
    p.add_argument("--config", help="TOML config file")
    p.add_argument("--resume", metavar="CKPT", help="continue a run from its checkpoint")
    p.add_argument("--save", metavar="FILE.pt", help="also write the final checkpoint here")
    p.add_argument("--download", action="store_true", help="fetch missing data files first")
    p.add_argument("--quiet", action="store_true", help="print nothing while training")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the config the run would use (TOML) and its size; train nothing",
    )
    add_common_args(p)
    p.set_defaults(func=cmd_train)
