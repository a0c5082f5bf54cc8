"""`rnnlab report`: learning curves, final values and a table of recorded runs, as one page."""

from __future__ import annotations

import argparse


def cmd_report(args: argparse.Namespace) -> int:
    from rnnlab.experiments.report import report
    from rnnlab.results.jsontext import json_text

    result = report(
        args.comparison,
        group=args.group,
        name=args.name,
        task=args.task,
        runs=args.runs,
        metric=args.metric,
        out=args.out,
        runs_dir=args.runs_dir,
    )
    if args.json:
        print(json_text(result.data))  # as report.json: a stored NaN as null
        return 0
    print(f"Report for {result.data['title']}: {result.summary}")
    for note in result.data["notes"]:
        print(f"  note: {note}")
    print(f"Page:  {result.html}")
    print(f"Data:  {result.json}")
    print(f"Plots: {result.curves}, {result.loss}, {result.final}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    from rnnlab.cli import add_common_args

    p = subparsers.add_parser(
        "report",
        help="learning curves and a summary page of recorded runs",
        description=(
            "Plot the selected runs' metric and training loss over iterations (one line per "
            "configuration, mean +- std over seeds, when runs repeat a configuration), their "
            "final values, and a table of the runs, into one self-contained HTML page beside "
            "the PNGs and report.json. Reads only the results store: no data, no checkpoints."
        ),
    )
    p.add_argument(
        "comparison", nargs="?", help="a comparison's name (its runs: group compare:NAME)"
    )
    p.add_argument("--group", help="only the runs of one group, e.g. compare:ex2-rnn")
    p.add_argument("--name", help="only runs with this name (* is a wildcard)")
    p.add_argument("--task", help="only runs of this task")
    p.add_argument("--runs", metavar="IDS", help="only these run ids, e.g. 3,5,8 or 3-8")
    p.add_argument(
        "--metric",
        help="the metric to plot (default: the comparison's, else the objective of a sweep's "
        "runs, else the task's primary metric)",
    )
    p.add_argument("--out", help="output folder (default: RUNS/reports/<selection>)")
    p.add_argument("--json", action="store_true", help="print the report's data as JSON")
    add_common_args(p, overrides=False, data=False)
    p.set_defaults(func=cmd_report)
