"""Part-of-speech data: CoNLL-U files (Universal Dependencies) read with the `conllu` package.

A sentence becomes its word forms and their UPOS tags. Multiword-token ranges (ids such as
"3-4", the surface form "don't" over "do" + "n't") and empty nodes (ids such as "5.1") are
skipped: the tagger sees exactly the syntactic words that carry a UPOS tag.

`conllu` accepts many malformed lines without complaint (a token line with 4 columns parses),
so every line is checked here first, and a bad one is reported with its file and line number.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import conllu
from conllu.exceptions import ParseException

from rnnlab.errors import DataError

PAD, UNK = "<pad>", "<unk>"
# Character vocabulary specials: padding, unknown character, begin and end of word.
CHAR_SPECIALS = (PAD, UNK, "<w>", "</w>")

# Columns the tagger does not use are kept as raw text: parsing them triples the read time.
_RAW_FIELDS = {name: (lambda line, i: line[i]) for name in ("head", "feats", "deps", "misc")}
_ID = re.compile(r"^(\d+)(-\d+|\.\d+)?$")


@dataclass
class Sentence:
    words: list[str]
    tags: list[str]


def read_conllu(path: str | Path, *, limit: int = 0, hint: str = "") -> list[Sentence]:
    """The sentences of one CoNLL-U file as (words, UPOS tags); DataError on a bad file.
    With `limit`, only the first `limit` sentences are parsed (quick runs)."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"CoNLL-U file {path} is a folder; give the .conllu file in it")
    if not path.is_file():
        raise DataError(
            f"CoNLL-U file {path} not found; "
            f"{hint or 'point --data-dir (or $RNNLAB_DATA) at the folder that holds it'}"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path} is not UTF-8 text (byte {exc.start}); is it a CoNLL-U file?"
        ) from None
    except OSError as exc:
        raise DataError(f"cannot read {path} ({exc.strerror})") from None
    text = text.removeprefix("\ufeff")  # a byte-order mark is not part of the first line
    _check_lines(text, path)
    sentences = []
    try:
        for tokens in conllu.parse_incr(io.StringIO(text), field_parsers=_RAW_FIELDS):
            if limit and len(sentences) >= limit:
                break
            words, tags = _words_and_tags(tokens)
            if words:
                sentences.append(Sentence(words, tags))
    except ParseException as exc:  # our checks should have caught it first; name the file
        raise DataError(f"{path}: not valid CoNLL-U ({str(exc).splitlines()[0]})") from None
    if not sentences:
        raise DataError(f"{path} holds no sentences; is it a CoNLL-U file?")
    return sentences


def _words_and_tags(tokens: conllu.TokenList) -> tuple[list[str], list[str]]:
    words, tags = [], []
    for tok in tokens:
        if not isinstance(tok["id"], int):  # tuples: ranges (3, '-', 4) and (5, '.', 1)
            continue
        words.append(tok["form"])
        tags.append(tok["upos"])
    return words, tags


def _check_lines(text: str, path: Path) -> None:
    """Reject the first line that is not a comment, a blank line or a 10-column token."""
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) != 10:
            raise DataError(
                f"{path}, line {number}: a token line needs 10 tab-separated columns, "
                f"found {len(cols)}: {line[:60]!r}"
            )
        match = _ID.match(cols[0])
        if match is None:
            raise DataError(f"{path}, line {number}: '{cols[0][:20]}' is not a token id")
        if match.group(2) is None and (not cols[1] or not cols[3] or cols[3] == "_"):
            raise DataError(f"{path}, line {number}: token {cols[0]} has no form or UPOS tag")


# --------------------------------------------------------------------------- vocabularies


def build_vocab(items: Iterable[str], min_freq: int = 1, specials: Sequence[str] = ()) -> list[str]:
    """Specials first, then items seen at least `min_freq` times, most frequent first (ties
    alphabetically, so the same data always gives the same indices)."""
    counts = Counter(items)
    kept = sorted((w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w))
    return list(specials) + [w for w in kept if w not in specials]


def word_key(word: str, lowercase: bool) -> str:
    return word.lower() if lowercase else word


def word_vocab(sentences: Sequence[Sentence], min_freq: int, lowercase: bool) -> list[str]:
    return build_vocab(
        (word_key(w, lowercase) for s in sentences for w in s.words), min_freq, (PAD, UNK)
    )


def char_vocab(sentences: Sequence[Sentence]) -> list[str]:
    return build_vocab((c for s in sentences for w in s.words for c in w), 1, CHAR_SPECIALS)


def tag_vocab(sentences: Sequence[Sentence]) -> list[str]:
    return sorted({t for s in sentences for t in s.tags})


def tokenize(text: str) -> list[str]:
    """Whitespace tokenisation, as the `tag` command promises."""
    return text.split()
