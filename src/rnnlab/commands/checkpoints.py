"""What a checkpoint holds and does: `rnnlab evaluate` (metrics, per-class accuracy, confusion
matrix), `rnnlab predict` (classes of images) and `rnnlab inspect` (a model's tensors, of a
checkpoint or a preset)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from rnnlab.cli import (
    CHECKPOINT_HELP,
    DEVICE_HELP,
    add_common_args,
    collect_overrides,
    whole_number,
)
from rnnlab.results.jsontext import json_text


def cmd_evaluate(args: argparse.Namespace) -> int:
    from rnnlab import api

    result = api.evaluate(args.checkpoint, data_dir=args.data_dir, device=args.device or "auto")
    if args.json:
        print(json_text(result))
        return 0
    print(
        f"Checkpoint {args.checkpoint} (iteration {result.get('iteration')}, "
        f"scored in {result['precision']})"
    )
    for key, value in result.items():
        if isinstance(value, float) and key != "seconds":
            print(f"  {key:<12} {value:.4f}")
    if "per_class_acc" in result:
        print("\nPer-class test accuracy:")
        for name, acc in zip(result["classes"], result["per_class_acc"]):
            # a run with data.test_limit may have no test image of a class: no score, not 0 %
            print(f"  {name:<12} {'no test images' if acc is None else f'{acc:6.2f} %'}")
        print("\nConfusion matrix (rows: true class, columns: predicted):")
        print(matrix_text(result["confusion"], result["classes"]))
    return 0


def matrix_text(matrix: list[list[int]], classes: Sequence[str]) -> str:
    labels = [c[:7] for c in classes]
    # at least one space between columns, whatever the longest label or count
    width = 1 + max(max(map(len, labels)), max(len(str(v)) for row in matrix for v in row))
    lines = [" " * 9 + "".join(f"{lab:>{width}}" for lab in labels)]
    for lab, row in zip(labels, matrix):
        lines.append(f"  {lab:<7}" + "".join(f"{v:>{width}}" for v in row))
    return "\n".join(lines)


def cmd_predict(args: argparse.Namespace) -> int:
    from rnnlab import api

    rows = api.predict(
        args.checkpoint,
        indices=args.index,
        images=args.image,
        data_dir=args.data_dir,
        device=args.device or "auto",
        top=args.top,
    )
    if args.json:
        print(json_text(rows))
        return 0
    for r in rows:
        truth = f" (label: {r['label']})" if r["label"] is not None else ""
        top = ", ".join(f"{c} {p:.3f}" for c, p in r["top"])
        print(f"{r['source']}: {r['predicted']} p={r['probability']:.3f}{truth}  [{top}]")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from rnnlab import api

    info = api.inspect(args.target, overrides=collect_overrides(args), data_dir=args.data_dir)
    if args.json:
        print(json_text(info))
        return 0
    print(info["source"])
    print(model_line(info["config"]))
    if info["mismatch"]:
        print(
            f"  these tensors do not fit the model its config describes ({info['mismatch']}): "
            "the checkpoint is damaged or was edited; evaluate, predict and --resume refuse it"
        )
    width = max(len(p[0]) for p in info["parameters"])
    for name, shape, count in info["parameters"]:
        print(f"  {name:<{width}}  {'x'.join(map(str, shape)):>12}  {count:>10,}")
    print(f"  {len(info['parameters'])} tensors, {info['total']:,} parameters")
    return 0


def model_line(config: dict) -> str:
    """The settings that shape the tensors listed below them: the cell and its sizes, an
    extra hidden layer before the output, and a classifier's view (rows: 28 inputs a step,
    pixels: 1), which a checkpoint's listing would otherwise leave unexplained."""
    m = config["model"]
    parts = [m["cell"], f"hidden {m['hidden']}", f"layers {m['layers']}"]
    if m.get("bidirectional"):
        parts.append("bidirectional")
    if m.get("fc_hidden"):
        parts.append(f"fc_hidden {m['fc_hidden']}")
    if m.get("impl", "torch") != "torch":
        parts.append(f"impl {m['impl']}")
    data = config.get("data", {})
    seen = f" ({data['dataset']}, {data['view']} view)" if config["task"] == "classify" else ""
    return f"task {config['task']}{seen}: {', '.join(parts)}"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("evaluate", help="accuracy, per-class accuracy, confusion matrix")
    p.add_argument("checkpoint", help=CHECKPOINT_HELP)
    p.add_argument("--device", default=None, help=DEVICE_HELP)
    p.add_argument(
        "--json",
        action="store_true",
        help="print the metrics, per-class accuracy and confusion matrix as JSON",
    )
    add_common_args(p, overrides=False, runs=False)
    p.set_defaults(func=cmd_evaluate)

    p = subparsers.add_parser(
        "predict", help="class and probabilities for test images or PNG files"
    )
    p.add_argument("checkpoint", help=CHECKPOINT_HELP)
    p.add_argument("--index", type=whole_number, nargs="+", help="test-set indices")
    p.add_argument("--image", nargs="+", help="image files (PNG, JPEG)")
    p.add_argument("--top", type=whole_number, default=3, help="how many classes to show")
    p.add_argument("--device", default=None, help=DEVICE_HELP)
    p.add_argument("--json", action="store_true", help="print the predictions as JSON")
    add_common_args(p, overrides=False, runs=False)
    p.set_defaults(func=cmd_predict)

    p = subparsers.add_parser(
        "inspect", help="parameter tensors of a preset's or checkpoint's model"
    )
    p.add_argument("target", help="preset name, config TOML or checkpoint .pt")
    p.add_argument("--json", action="store_true", help="print the tensors and config as JSON")
    add_common_args(p, runs=False)  # overrides: a preset changed first (--hidden 256)
    p.set_defaults(func=cmd_inspect)
