"""Command line: a thin layer over `rnnlab.api`. Every error is one line, never a traceback."""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from rnnlab import __version__
from rnnlab.config import check_overrides, coerce_value, override_text
from rnnlab.errors import ConfigError, DataError, RnnlabError, TrainingInterrupted

DEVICE_HELP = "auto | cpu | cuda | cuda:N | mps (default: auto)"
CHECKPOINT_HELP = "a checkpoint .pt: a run's last.pt or best.pt, or a --save copy"


class UsageError(RnnlabError):
    """A command line argparse cannot read: an unknown flag or command, a missing argument,
    a value of the wrong type."""


class Parser(argparse.ArgumentParser):
    """argparse, except that an error is the one `rnnlab: error: ...` line every rnnlab
    error is (exit code 1), not the usage text and exit code 2. Subcommand parsers are of
    this class too: add_subparsers makes them of their parent's class."""

    def error(self, message: str) -> NoReturn:
        flag = re.fullmatch(r"argument (-[\w-]+)[^:]*: expected one argument", message)
        if flag:
            # argparse takes a value that starts with '-' (--prime -x) for another flag
            message += f" (a value that starts with '-' is written {flag[1]}=VALUE)"
        raise UsageError(f"{message}; see {self.prog} --help")


class CommandListFormatter(argparse.HelpFormatter):
    """argparse's layout, with room for the longest command name: argparse measures the
    command list one indent short, so `translate` went onto a line of its own."""

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        if isinstance(action, argparse._SubParsersAction) and action.choices:
            longest = max(len(name) for name in action.choices)
            self._action_max_length = max(
                self._action_max_length, longest + self._current_indent + self._indent_increment
            )


# Short flags for the most used fields: flag -> (dotted field, type). Any other field is set
# with --set SECTION.FIELD=VALUE.
OVERRIDE_FLAGS: dict[str, tuple[str, Any, str]] = {
    "--iters": ("train.iters", int, "training iterations (batches)"),
    "--epochs": ("train.epochs", float, "training epochs (instead of --iters)"),
    "--batch-size": ("train.batch_size", int, "batch size"),
    "--lr": ("train.lr", float, "learning rate"),
    "--optimizer": ("train.optimizer", str, "sgd | adam | adamw | rmsprop"),
    "--momentum": ("train.momentum", float, "SGD / RMSprop momentum"),
    "--weight-decay": ("train.weight_decay", float, "weight decay"),
    "--clip-grad": ("train.clip_grad", float, "max gradient norm (0 = off)"),
    "--schedule": ("train.schedule", str, "LR schedule: none | step | cosine"),
    "--eval-every": ("train.eval_every", int, "evaluate every N iterations"),
    "--precision": ("train.precision", str, "fp32 | bf16 | auto"),
    "--cell": ("model.cell", str, "rnn_tanh | rnn_relu | lstm | gru"),
    "--hidden": ("model.hidden", int, "hidden units per layer"),
    "--layers": ("model.layers", int, "stacked recurrent layers"),
    "--dropout": ("model.dropout", float, "dropout between recurrent layers"),
    "--fc-hidden": ("model.fc_hidden", int, "width of an extra FC layer (0 = none)"),
    "--impl": ("model.impl", str, "torch | scratch (hand-written cells)"),
    "--dataset": ("data.dataset", str, "classification: mnist | fashion-mnist"),
    "--view": ("data.view", str, "classification: rows | pixels | permuted"),
    "--order": (
        "data.order",
        str,
        "classification: seeded | dataloader (the tutorials' script, seed for seed)",
    ),
    "--seed": ("seed", int, "random seed"),
    "--device": ("device", str, DEVICE_HELP),
    "--threads": ("threads", int, "torch CPU threads (0 = default)"),
    "--name": ("name", str, "run name"),
}


def add_common_args(
    parser: argparse.ArgumentParser, overrides: bool = True, data: bool = True, runs: bool = True
) -> None:
    """The options commands share. Every command accepts --data-dir and --runs-dir (scripts
    pass them to all alike); a command that does not use one keeps it out of its help."""
    parser.add_argument(
        "--data-dir",
        help="data root (default: $RNNLAB_DATA, else ${XDG_CACHE_HOME:-~/.cache}/rnnlab/data)"
        if data
        else argparse.SUPPRESS,
    )
    parser.add_argument(
        "--runs-dir",
        help="runs folder and results store (default: $RNNLAB_RUNS, else ./runs)"
        if runs
        else argparse.SUPPRESS,
    )
    if not overrides:
        return
    group = parser.add_argument_group("config overrides")
    for flag, (dotted, kind, text) in OVERRIDE_FLAGS.items():
        group.add_argument(flag, type=field_parser(dotted, kind), default=None, help=text)
    group.add_argument("--bidirectional", action="store_true", default=None, help="both directions")
    group.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="set any config field, e.g. --set model.embedding_dim=64 (repeatable)",
    )


def set_help(parser: argparse.ArgumentParser, flag: str, text: str) -> None:
    """Give a shared flag the help it has in this command (--name names a comparison)."""
    for action in parser._actions:
        if flag in action.option_strings:
            action.help = text
            return
    raise KeyError(flag)


def field_parser(dotted: str, kind: Any) -> Callable[[str], Any]:
    """The argparse type of a flag for config field `dotted`: it reads a value exactly as
    --set reads one (--iters 1e4 is --set train.iters=1e4), and a bad one is argparse's
    one-line error naming the flag."""
    if kind is str:
        return str

    def parse(text: str) -> Any:
        try:
            return coerce_value(text, kind, dotted)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = kind.__name__  # what argparse names the type in its messages
    return parse


def whole_number(text: str) -> int:
    """The argparse type of an integer flag that sets no config field (--length, --top,
    --jobs): it reads its value as the fields' flags do, so 1e3 and 1000.0 are 1000 there too."""
    try:
        return coerce_value(text, int, "the value")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def collect_overrides(args: argparse.Namespace) -> list[str]:
    """The overrides given on the command line as SECTION.FIELD=VALUE strings, in order.
    A field given twice (--lr 0.1 and --set train.lr=0.5), or both --iters and --epochs,
    is an error: which one won would depend on an order nobody sees."""
    items: list[tuple[str, Any]] = []
    labels: list[str] = []  # how each was given, for the error that names them
    texts: list[str] = []  # each as FIELD=VALUE: a flag's value as it is (--name '"x"')
    passed: list[str] = []  # --set texts without "=": override_items says what it expects
    for flag, (dotted, _, _) in OVERRIDE_FLAGS.items():
        value = getattr(args, flag[2:].replace("-", "_"), None)
        if value is not None:
            items.append((dotted, value))
            labels.append(f"{flag} {value}")
            texts.append(override_text(dotted, value))
    if getattr(args, "bidirectional", None):
        items.append(("model.bidirectional", "true"))
        labels.append("--bidirectional")
        texts.append("model.bidirectional=true")
    if getattr(args, "download", False):
        items.append(("data.download", "true"))
        labels.append("--download")
        texts.append("data.download=true")
    for text in getattr(args, "set", []) or []:
        if "=" not in text:
            passed.append(text)
            continue
        key, value = text.split("=", 1)
        items.append((key.strip(), value.strip()))
        labels.append(f"--set {text}")
        texts.append(f"{key.strip()}={value.strip()}")
    check_overrides(items, labels, lengths="--iters or --epochs")
    return texts + passed


def size_text(parameters: int | None) -> str:
    """A model's size as a dry run shows it; None (or 0) when its data is not at hand."""
    return f"{parameters:,} parameters" if parameters else "size set by the data"


def config_source(args: argparse.Namespace) -> str | Path | None:
    """--preset or --config; both at once is an error, not one of them silently ignored.
    A --config is a Path: a file, whatever its name (a folder is named as one, not looked up
    as a preset)."""
    if args.preset and args.config:
        raise ConfigError(
            f"give --preset or --config, not both (--preset {args.preset}, --config {args.config})"
        )
    return Path(args.config) if args.config else args.preset


# --------------------------------------------------------------------------- parser


# The modules of the subcommands, in the order `rnnlab --help` lists them: each has
# register(subparsers) -> None.
COMMAND_MODULES: tuple[str, ...] = (
    "rnnlab.commands.train",
    "rnnlab.commands.checkpoints",
    "rnnlab.commands.runs",
    "rnnlab.commands.presets",
    "rnnlab.commands.download",
    "rnnlab.commands.compare",
    "rnnlab.commands.sample",
    "rnnlab.commands.tag",
    "rnnlab.commands.translate",
    "rnnlab.commands.report",
    "rnnlab.commands.sweep",
)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="rnnlab",
        description="Build, train, compare and tune recurrent neural networks.",
        epilog="rnnlab COMMAND --help shows a command's options.",
        formatter_class=CommandListFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"rnnlab {__version__}", help="print the version"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    for choice in sub._choices_actions:  # `rnnlab X --help` opens with what X does
        command = sub.choices[choice.dest]
        if not command.description and choice.help:
            command.description = choice.help[0].upper() + choice.help[1:] + "."
    return parser


def _out_of_memory(exc: BaseException) -> bool:
    """CPU allocations that fail raise a plain RuntimeError; CUDA ones an OutOfMemoryError."""
    text = str(exc)
    return (
        isinstance(exc, MemoryError)
        or type(exc).__name__ == "OutOfMemoryError"
        or (
            isinstance(exc, RuntimeError)
            and ("can't allocate memory" in text or "out of memory" in text)
        )
    )


def _command_parser(parser: argparse.ArgumentParser, command: str | None) -> Any:
    """The subcommand's own parser (for its name and flags in an error), else `parser`."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]
    return parser


def _unrecognized(
    parser: argparse.ArgumentParser, args: argparse.Namespace, extra: list[str]
) -> NoReturn:
    """The one-line error for arguments no parser took, with the likely flag for a typo."""
    own = _command_parser(parser, getattr(args, "command", None))
    flags = [f for action in own._actions for f in action.option_strings]
    unknown = next((e.split("=", 1)[0] for e in extra if e.startswith("--")), None)
    close = difflib.get_close_matches(unknown, flags, n=1) if unknown else []
    hint = f" (did you mean {close[0]}?)" if close else ""
    own.error(f"unrecognized arguments: {' '.join(extra)}{hint}")


def _reparse_intermixed(
    parser: argparse.ArgumentParser, args: argparse.Namespace, argv: Sequence[str] | None
) -> tuple[argparse.Namespace, list[str]]:
    """Parse the subcommand's arguments again with options and positionals intermixed, so
    `rnnlab tag pos.pt --json "The old man ."` reads the sentence after the option (plain
    parse_args stops a positional list at the first option)."""
    words = list(sys.argv[1:] if argv is None else argv)
    own = _command_parser(parser, args.command)
    rest = words[words.index(args.command) + 1 :]
    again, extra = own.parse_known_intermixed_args(rest)
    again.command = args.command
    return again, extra


def parse_command_line(
    argv: Sequence[str] | None, parser: argparse.ArgumentParser | None = None
) -> argparse.Namespace:
    """The arguments of one command line, or a UsageError naming what is wrong."""
    parser = parser or build_parser()
    # parse_known_args: the unknown arguments of a subcommand reach this level, where
    # the error can name the subcommand (parse_args would blame "rnnlab" itself)
    args, extra = parser.parse_known_args(argv)
    if extra and getattr(args, "command", None):
        args, extra = _reparse_intermixed(parser, args, argv)
    if extra:
        _unrecognized(parser, args, extra)
    return args


def unshowable(exc: UnicodeEncodeError) -> Exception:
    """The one-line error for text that standard output's encoding cannot write (a
    PYTHONIOENCODING=ascii or Latin-1 terminal given Japanese or emoji)."""
    char = exc.object[exc.start : exc.end][:1]
    return DataError(
        f"standard output is {exc.encoding}, which cannot show {char!r}; "
        "set PYTHONIOENCODING=utf-8 (or use a UTF-8 locale) to print it"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parse_command_line(argv, parser)
    except UsageError as exc:
        print(f"rnnlab: error: {exc}", file=sys.stderr)
        return 1
    if not getattr(args, "func", None):  # bare `rnnlab`: what there is to run
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except RnnlabError as exc:
        print(f"rnnlab: error: {exc}", file=sys.stderr)
        return exc.exit_code if isinstance(exc, TrainingInterrupted) else 1
    except KeyboardInterrupt:
        print("rnnlab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `rnnlab sample ... | head`: the reader has all it wanted
        # stdout's buffer still holds text for the closed pipe; point it at /dev/null so the
        # flush at exit does not fail a second time
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell tool stopped by a closed pipe returns
    except Exception as exc:  # a bug or an environment failure: still one line by default
        if os.environ.get("RNNLAB_DEBUG"):
            raise
        if _out_of_memory(exc):
            print(
                "rnnlab: error: out of memory: the model or batch does not fit this machine; "
                "lower --hidden, --layers, --batch-size or --set train.eval_batch_size",
                file=sys.stderr,
            )
            return 1
        text = " ".join(str(exc).split())[:300]
        print(
            f"rnnlab: error: unexpected {type(exc).__name__}: {text} "
            "(set RNNLAB_DEBUG=1 to see the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
