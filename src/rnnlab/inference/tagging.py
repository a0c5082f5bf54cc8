"""Tag sentences with a trained part-of-speech tagger.

>>> import rnnlab
>>> rnnlab.tag("runs/pos-ewt-0001/best.pt", "The old man the boat .")
[('The', 'DET'), ('old', 'ADJ'), ...]

No data files are needed: the vocabularies travel in the checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rnnlab.data.tagging import tokenize
from rnnlab.errors import DataError

Tagged = list[tuple[str, str]]


def _as_tokens(sentence: str | Sequence[str], number: int) -> list[str]:
    if isinstance(sentence, str):
        tokens = tokenize(sentence)
    elif not isinstance(sentence, list | tuple):
        # bytes or another iterable would be taken apart item by item (b"ab" -> "97", "98")
        raise DataError(
            f"sentence {number} must be a string or a list of its words, got {sentence!r:.60}"
        )
    else:
        bad = [t for t in sentence if not isinstance(t, str)]
        if bad:
            raise DataError(
                f"sentence {number} has a word that is not a string ({bad[0]!r:.40}); "
                "give its words as strings"
            )
        tokens = list(sentence)
        if any(not t or t.isspace() for t in tokens):
            raise DataError(f"sentence {number} has an empty token; give words, not blanks")
    if not tokens:
        raise DataError(f"sentence {number} is empty; give at least one word to tag")
    return tokens


def tag_many(
    checkpoint: str | Path,
    sentences: Sequence[str | Sequence[str]],
    *,
    device: str = "auto",
) -> list[Tagged]:
    """(word, tag) pairs for each sentence; a string is split on whitespace, a list of
    strings is taken as its tokens."""
    from rnnlab import api

    if isinstance(sentences, str):  # its characters would be taken as sentences
        raise DataError("tag_many takes a list of sentences; for one sentence use rnnlab.tag")
    try:
        sentences = list(sentences)
    except TypeError:
        raise DataError(f"tag_many takes a list of sentences, got {sentences!r}") from None
    if not sentences:
        raise DataError("no sentences to tag; give at least one")
    tokens = [_as_tokens(s, i + 1) for i, s in enumerate(sentences)]
    loaded = api.load(checkpoint, device=device, task_name="tagger")
    tags = loaded.task.tag_sentences(loaded.model, tokens)
    return [list(zip(words, sent_tags)) for words, sent_tags in zip(tokens, tags)]


def tag(
    checkpoint: str | Path, sentence_or_tokens: str | Sequence[str], *, device: str = "auto"
) -> Tagged:
    """(word, tag) pairs of one sentence (a string split on whitespace, or its tokens)."""
    if not isinstance(sentence_or_tokens, str | list | tuple):
        raise DataError(
            f"tag takes one sentence (a string, or a list of its words), got {sentence_or_tokens!r}"
        )
    return tag_many(checkpoint, [sentence_or_tokens], device=device)[0]


def format_tagged(tagged: Tagged) -> str:
    """The usual word/TAG notation: "The/DET old/ADJ man/NOUN"."""
    return " ".join(f"{word}/{t}" for word, t in tagged)
