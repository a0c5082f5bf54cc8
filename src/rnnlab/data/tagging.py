"""Part-of-speech data: CoNLL-U files (Universal Dependencies).

A sentence becomes its word forms and their UPOS tags. Multiword-token ranges (ids such as
"3-4", the surface form "don't" over "do" + "n't") and empty nodes (ids such as "5.1") are
skipped: the tagger sees exactly the syntactic words that carry a UPOS tag.

Lines are split on tabs alone, as the format says. (The `conllu` package also splits on two
or more spaces, so a form such as "New  York" shifted every later column and the word got
its lemma for a tag, silently; it also accepts a token line with 4 columns.) Every line is
checked, and a bad one is reported with its file and line number.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from rnnlab.errors import DataError

PAD, UNK = "<pad>", "<unk>"
# Character vocabulary specials: padding, unknown character, begin and end of word.
CHAR_SPECIALS = (PAD, UNK, "<w>", "</w>")

_ID = re.compile(r"^([0-9]+)(-[0-9]+|\.[0-9]+)?$")


@dataclass
class Sentence:
    words: list[str]
    tags: list[str]


def read_conllu(path: str | Path, *, limit: int = 0, hint: str = "") -> list[Sentence]:
    """The sentences of one CoNLL-U file as (words, UPOS tags); DataError on a bad file.
    With `limit`, only the first `limit` sentences are kept (quick runs); every line of the
    file is still checked."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"CoNLL-U file {path} is a folder; give the .conllu file in it")
    if not path.is_file():
        raise DataError(
            f"CoNLL-U file {path} not found; "
            f"{hint or 'point --data-dir (or $RNNLAB_DATA) at the folder that holds it'}"
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(
            f"cannot read {path} ({exc.strerror or exc}); check its permissions"
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(
            f"{path} is not UTF-8 text: invalid byte 0x{raw[exc.start]:02x} on line {line} "
            f"(byte offset {exc.start}); convert it to UTF-8 (e.g. iconv -t UTF-8)"
        ) from None
    text = text.removeprefix("\ufeff")  # a byte-order mark is not part of the first line
    # Windows (\r\n) and old Mac (\r) line ends read as \n, as a text-mode open reads them
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    sentences = _parse(text, path, limit)
    if not sentences:
        raise DataError(
            f"{path} holds no sentences (no token lines, only comments or blank lines); "
            "give a CoNLL-U file with tab-separated token lines"
        )
    return sentences


def _parse(text: str, path: Path, limit: int) -> list[Sentence]:
    """Check every line (a comment, a blank line or a 10-column token) and gather the words
    and UPOS tags of each sentence; blank lines end sentences."""
    sentences: list[Sentence] = []
    words: list[str] = []
    tags: list[str] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            if words and (not limit or len(sentences) < limit):
                sentences.append(Sentence(words, tags))
            words, tags = [], []
            continue
        if line.startswith("#"):
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
        if match.group(2) is not None:  # a multiword-token range or an empty node
            continue
        if not cols[1] or not cols[3] or cols[3] == "_":
            raise DataError(f"{path}, line {number}: token {cols[0]} has no form or UPOS tag")
        words.append(cols[1])
        tags.append(cols[3])
    if words and (not limit or len(sentences) < limit):
        sentences.append(Sentence(words, tags))
    return sentences


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
