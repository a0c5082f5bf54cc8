"""`rnnlab tag CKPT "The old man the boat ."`: part-of-speech tags of sentences."""

from __future__ import annotations

import argparse
from pathlib import Path

from rnnlab.errors import DataError
from rnnlab.results.jsontext import json_text


def register(subparsers: argparse._SubParsersAction) -> None:
    from rnnlab.cli import DEVICE_HELP, add_common_args

    p = subparsers.add_parser(
        "tag",
        help="part-of-speech tags of sentences with a trained tagger",
        description="Tag whitespace-tokenised sentences; prints word/TAG, one line each.",
    )
    p.add_argument("checkpoint", help="a tagger checkpoint (.pt)")
    p.add_argument("sentences", nargs="*", help="sentences to tag (quote each one)")
    p.add_argument(
        "--file",
        help="a text file with one sentence per line (blank lines skipped); - reads stdin",
    )
    p.add_argument("--device", default=None, help=DEVICE_HELP)
    p.add_argument("--json", action="store_true", help="print [[word, tag], ...] per sentence")
    add_common_args(p, overrides=False, data=False, runs=False)
    p.set_defaults(func=cmd_tag)


def _read_lines(path: str) -> list[str]:
    if path == "-":
        import sys

        data = sys.stdin.buffer.read()
        try:
            return _lines(data.decode("utf-8-sig"))
        except UnicodeDecodeError:
            raise DataError("standard input is not UTF-8 text; give plain text") from None
    file = Path(path)
    if file.is_dir():
        raise DataError(f"{file} is a folder; give --file a text file, one sentence a line")
    # exists(), not is_file(): a pipe (--file /dev/stdin, --file <(cmd)) is read as well
    if not file.exists():
        raise DataError(f"sentence file {file} not found; give a text file, one sentence a line")
    try:
        text = file.read_text(encoding="utf-8-sig")  # a byte-order mark is not a word
    except UnicodeDecodeError:
        raise DataError(f"{file} is not UTF-8 text; give a plain text file") from None
    except OSError as exc:
        raise DataError(f"cannot read sentence file {file} ({exc.strerror or exc})") from None
    return _lines(text)


def _lines(text: str) -> list[str]:
    """Non-blank lines. Split at newlines only: str.splitlines also splits at form feeds,
    U+2028 and other separators that may sit inside a sentence."""
    return [line.rstrip("\r") for line in text.split("\n") if line.strip()]


def cmd_tag(args: argparse.Namespace) -> int:
    from rnnlab.cli import unshowable
    from rnnlab.inference.tagging import format_tagged, tag_many

    sentences = list(args.sentences)
    if args.file is not None:
        lines = _read_lines(args.file)
        if not lines and not sentences:
            where = "standard input" if args.file == "-" else f"sentence file {args.file}"
            raise DataError(
                f"{where} has no sentences (it is empty or blank); "
                "give a text file with one sentence a line"
            )
        sentences.extend(lines)
    if not sentences:
        raise DataError('nothing to tag: give sentences ("The old man the boat .") or --file')
    tagged = tag_many(args.checkpoint, sentences, device=args.device or "auto")
    try:
        if args.json:
            print(json_text(tagged, indent=None))
            return 0
        for sentence in tagged:
            print(format_tagged(sentence))
    except UnicodeEncodeError as exc:
        raise unshowable(exc) from None
    return 0
