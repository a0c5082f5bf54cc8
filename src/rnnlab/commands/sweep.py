"""`rnnlab sweep`: tune hyper-parameters with an Optuna study (SPEC.md section 3).

Only arguments and printing live here; rnnlab.experiments.sweep does the work.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rnnlab.results.jsontext import json_text


def cmd_sweep(args: argparse.Namespace) -> int:
    from rnnlab.cli import collect_overrides
    from rnnlab.errors import ConfigError
    from rnnlab.experiments import sweep as sw

    if args.list:
        for name, description in sw.sweeps().items():
            print(f"  {name:<14} {description}")
        return 0
    if args.preset and args.config:
        raise ConfigError("give --preset NAME or --config FILE.toml, not both")
    if args.name is not None:  # the trials are named after the study, so --name would be lost
        raise ConfigError(
            f"a sweep names its runs after its study (STUDY-t000, ...); give --study {args.name} "
            "instead of --name"
        )
    plan = sw.plan_sweep(
        Path(args.config) if args.config else args.preset,  # --config is a file, by any name
        definition=args.sweep,
        space=args.param,
        overrides=collect_overrides(args),
        trials=args.trials,
        timeout=args.timeout,
        sampler=args.sampler,
        prune=args.prune,
        metric=args.metric,
        study=args.study,
        storage=args.storage,
        sampler_seed=args.sampler_seed,
        baseline=args.baseline,
        runs_dir=args.runs_dir,
        data_dir=args.data_dir,
    )
    if args.dry_run:
        from rnnlab.experiments.sweep.study import finished_in_saved_study

        saved = finished_in_saved_study(plan)
        # the real call queues the baseline only in a study holding no trial at all
        fresh = saved is None or saved[1] == 0
        if args.json:
            done = 0 if saved is None else saved[0]
            print(json_text({**plan.to_dict(fresh=fresh), "done": done, "dry_run": True}))
            return 0
        for line in plan.describe(fresh=fresh):
            print(line)
        if saved is not None:
            print(f"Continues the saved study: {saved[0]} of {plan.trials} trials done already")
        return 0
    result = sw.run_sweep(plan, verbose=not (args.quiet or args.json))
    if args.json:
        print(json_text(result.to_dict()))
    elif args.quiet:
        print("\n".join(sw.summary_lines(result)))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    from rnnlab.cli import add_common_args, set_help, whole_number

    p = subparsers.add_parser(
        "sweep",
        help="tune iterations, batch size, learning rate, ... with an Optuna study",
        description=(
            "Run many trainings of one config with the given fields changed and report the "
            "best combination, chosen on validation data. Running the same command again "
            "continues the study."
        ),
    )
    p.add_argument("--preset", help="preset to tune (rnnlab presets lists them)")
    p.add_argument("--config", help="TOML config file to tune")
    p.add_argument(
        "--sweep", metavar="NAME", help="a shipped sweep definition (see --list) or a TOML file"
    )
    p.add_argument("--list", action="store_true", help="list the shipped sweep definitions")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="FIELD=SPEC",
        help=(
            "a swept field (repeatable): train.lr=log:1e-4:1e-1, train.lr=float:0.001:0.1, "
            "train.iters=int:1000:6000[:STEP], train.batch_size=32,64,128, "
            "train.optimizer=sgd,adam"
        ),
    )
    p.add_argument(
        "--trials",
        type=whole_number,
        help="finished trials wanted in the study in total (default 20)",
    )
    p.add_argument("--timeout", type=float, help="start no new trial after this many seconds")
    p.add_argument("--sampler", help="tpe (default) | random | grid (lists of values only)")
    p.add_argument(
        "--prune",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=(
            "stop trials worse than the median of finished ones at the same iteration "
            "(default: off, or the sweep file's prune)"
        ),
    )
    p.add_argument(
        "--baseline",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=(
            "try the config's own values of the swept fields first "
            "(default: off, or the sweep file's baseline)"
        ),
    )
    p.add_argument(
        "--metric",
        help="objective (default: val_acc for classification, else the task's main metric)",
    )
    p.add_argument("--study", help="study name (default: the sweep, preset or config name)")
    p.add_argument(
        "--storage",
        help="Optuna storage URL (default sqlite:///RUNS/sweeps/STUDY/optuna.db)",
    )
    p.add_argument(
        "--sampler-seed", type=whole_number, help="seed of the sampler (default: the config's seed)"
    )
    p.add_argument("--dry-run", action="store_true", help="print the plan and run nothing")
    p.add_argument("--quiet", action="store_true", help="print only the final summary")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_common_args(p)
    set_help(p, "--name", "not for a sweep: its runs are named after the study (--study)")
    p.set_defaults(func=cmd_sweep)
