"""`rnnlab compare`: train a grid of configurations over seeds and print one table."""

from __future__ import annotations

import argparse

from rnnlab.results.jsontext import json_text


def cmd_compare(args: argparse.Namespace) -> int:
    from rnnlab.cli import collect_overrides, config_source
    from rnnlab.experiments.compare import compare, plan_comparison, studies
    from rnnlab.experiments.table import render_text, to_json

    if args.list:
        for name, description in studies().items():
            print(f"  {name:<16} {description}")
        return 0
    # --name names the comparison (its runs are named after it and their grid point): drop
    # the flag's own name= entry; a --set name=... stays, for plan_comparison to refuse
    overrides = collect_overrides(args)
    if args.name is not None:
        overrides.remove(f"name={args.name}")
    chosen = dict(
        study=args.study,
        grid=args.grid,
        seeds=args.seeds,
        overrides=overrides,
        name=args.name,
        metric=args.metric,
        jobs=args.jobs,
        data_dir=args.data_dir,
        runs_dir=args.runs_dir,
    )
    if args.dry_run:
        return show_plan(plan_comparison(config_source(args), **chosen), as_json=args.json)
    result = compare(
        config_source(args),  # both --preset and --config is an error
        **chosen,
        verbose=not args.quiet and not args.json,
    )
    if args.json:
        print(json_text(to_json(result)))
        return 0
    print()
    print(render_text(result))
    best = result.best
    if best is not None and len(result.rows) > 1:
        from rnnlab.experiments.compare import cell_label

        print(f"\nBest: {cell_label(best.cell)} ({result.metric} {best.mean:.2f})")
    print(f"Saved: {result.files['markdown']}, {result.files['csv']}, {result.files['json']}")
    return 0


def show_plan(plan, as_json: bool = False) -> int:
    """Print what a comparison would train: one line per configuration."""
    from rnnlab.cli import size_text
    from rnnlab.experiments.ranges import ranges_text

    data = plan.to_dict()
    if as_json:
        print(json_text(data))
        return 0
    print(f"{plan.summary()}, compared on {plan.metric}; nothing trained (--dry-run)")
    print(
        f"In {plan.folder}: {data['done']} already done, {data['to_resume']} to resume, "
        f"{data['to_train']} to train"
    )
    if data["training_by"]:  # a real command would stop at once: ComparisonBusy
        print(f"Being trained now by another process ({data['training_by']}); wait for it")
    width = max(len(c["config"]["name"] or "") for c in data["configurations"])
    for c in data["configurations"]:
        seeds = ranges_text(c["seeds"])
        print(f"  {c['config']['name']:<{width}}  seeds {seeds}  {size_text(c['parameters'])}")
    for note in data["notes"]:
        print(note)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    from rnnlab.cli import add_common_args, set_help, whole_number

    p = subparsers.add_parser(
        "compare",
        help="train a grid of configurations x seeds and print one table",
        description=(
            "Train every configuration of a grid (and every seed) and summarise them in one "
            "table: mean +- std over seeds, parameters, time. Re-running a stopped comparison "
            "finishes it; finished runs are never trained twice."
        ),
    )
    p.add_argument("study", nargs="?", help="a shipped study (rnnlab compare --list)")
    p.add_argument("--list", action="store_true", help="list the shipped studies")
    p.add_argument("--preset", help="the base preset")
    p.add_argument("--config", help="the base config file (TOML)")
    p.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="FIELD=V1,V2",
        help="a grid axis, e.g. model.layers=1,2,3 or preset=sheet-rnn,gru (repeatable)",
    )
    p.add_argument("--seeds", help="seeds to repeat every configuration with, e.g. 0-9 or 1,5")
    p.add_argument("--metric", help="the metric to compare (default: the task's, e.g. test_acc)")
    p.add_argument("--jobs", type=whole_number, default=1, help="runs trained at once (processes)")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="check the grid and print its runs (names, seeds, parameters); train nothing",
    )
    p.add_argument("--quiet", action="store_true", help="print only the table")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    add_common_args(p)
    set_help(p, "--name", "name of the comparison (default: the study or preset's name)")
    p.set_defaults(func=cmd_compare)
