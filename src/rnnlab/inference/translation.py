"""Answer new inputs with a trained encoder-decoder: translate(ckpt, "123+45") -> "168"."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path

from rnnlab.errors import ConfigError


class UnlikeTraining(UserWarning):
    """An input of another shape than the training examples: answered, but unlikely right."""


def translate_many(
    checkpoint: str | Path, texts: Iterable[str], *, device: str = "auto"
) -> list[str]:
    """Greedy answers of a seq2seq checkpoint for several source strings (a list, a tuple
    or any other iterable of them)."""
    return _translate(checkpoint, texts, device)


def _translate(checkpoint: str | Path, texts: Iterable[str], device: str) -> list[str]:
    answered = translate_with_notes(checkpoint, texts, device=device)
    for _, note in answered:
        if note:
            # stacklevel 3: the line that called translate or translate_many
            warnings.warn(note, UnlikeTraining, stacklevel=3)
    return [answer for answer, _ in answered]


def translate_with_notes(
    checkpoint: str | Path, texts: Iterable[str], *, device: str = "auto"
) -> list[tuple[str, str | None]]:
    """(answer, note) per input: the note says why an input unlike the training examples
    is likely answered wrong (None for an input like them). `rnnlab translate --json`."""
    texts = _checked_texts(texts)
    from rnnlab.api import load

    loaded = load(checkpoint, device=device, task_name="seq2seq")
    task = loaded.task
    for text in texts:
        bad = task.unknown_characters(text)
        if bad:
            allowed = "".join(t for t in task.tokens if len(t) == 1)
            raise ConfigError(
                f"'{text}' has characters outside the vocabulary: "
                f"{', '.join(repr(c) for c in bad)}; this model knows only '{allowed}'"
            )
    notes = [task.unlike_training(text) for text in texts]
    answers = task.translate(loaded.model, texts)
    return [
        (answer, f"{why}, so expect its answer to be wrong" if why else None)
        for answer, why in zip(answers, notes)
    ]


def _checked_texts(texts: Iterable[str]) -> list[str]:
    """The inputs as a list of non-empty strings, checked before a checkpoint is loaded."""
    if isinstance(texts, str):  # its characters would be translated one by one
        raise ConfigError("translate_many takes a list of inputs; for one use rnnlab.translate")
    try:
        texts = list(texts)
    except TypeError:
        raise ConfigError(f"translate_many takes a list of strings, got {texts!r}") from None
    if not texts:
        raise ConfigError(
            "nothing to translate: give at least one input, e.g. 0123456789 or 123+45"
        )
    for number, text in enumerate(texts, 1):
        if not isinstance(text, str):
            raise ConfigError(f"input {number} is not a string (got {text!r})")
        if not text:
            raise ConfigError(
                f"input {number} is empty; give digits to reverse or sort (e.g. 0123456789) "
                "or a sum (e.g. 123+45)"
            )
    return texts


def translate(checkpoint: str | Path, text: str, *, device: str = "auto") -> str:
    """The greedy answer of a seq2seq checkpoint for one source string."""
    if not isinstance(text, str):
        raise ConfigError("translate takes one string; for a list use rnnlab.translate_many")
    return _translate(checkpoint, [text], device)[0]
