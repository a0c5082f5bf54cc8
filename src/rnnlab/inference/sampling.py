"""Sampling text from a character language model.

>>> import rnnlab
>>> print(rnnlab.sample("runs/charlm-shakespeare-0001/best.pt", prime="ROMEO:", length=300, seed=1))

The prime is read first (it warms the hidden state); then each next character is drawn with
torch.multinomial from softmax(logits / temperature), optionally from the top-k only.
Temperature 0 is greedy (argmax); a seed makes the text reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnlab.config import check_seed
from rnnlab.errors import CheckpointError, ConfigError

MAX_LENGTH = 10_000_000  # characters in one sample; beyond it, sample in pieces


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_sampling_args(
    length: int, temperature: float, top_k: int | None, seed: int | None = None
) -> None:
    if not _is_int(length) or not 0 <= length <= MAX_LENGTH:
        raise ConfigError(
            f"length must be a whole number of characters from 0 to {MAX_LENGTH:,}, got {length!r}"
        )
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool):
        raise ConfigError(f"temperature must be a number, got {temperature!r}")
    shown = temperature
    try:
        valid = 0 <= float(temperature) < math.inf  # NaN compares false
    except OverflowError:  # an int beyond any float: the scaled logits would overflow
        if temperature > 0:
            raise ConfigError(
                "temperature is too large (beyond any float, 1.8e308); "
                "give 0 (greedy) or a positive number such as 0.8"
            ) from None
        valid, shown = False, "a negative number"
    if not valid:
        raise ConfigError(f"temperature must be 0 (greedy) or positive, got {shown}")
    if seed is not None:
        if not _is_int(seed):
            raise ConfigError(f"seed must be a whole number, got {seed!r}")
        check_seed(seed)
    if top_k is not None and (not _is_int(top_k) or top_k < 1):
        raise ConfigError(f"top-k must be a positive integer, got {top_k!r}")


def next_char(
    logits: torch.Tensor,
    temperature: float,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One id per row of `logits` (B, V): argmax at temperature 0, else a multinomial draw."""
    logits = logits.double()  # a tiny temperature must not overflow the scaled logits
    if top_k is not None and top_k < logits.shape[-1]:
        # exactly k: a threshold at the k-th value would also keep every character tied with it
        top = torch.topk(logits, top_k, dim=-1)
        logits = torch.full_like(logits, float("-inf")).scatter(-1, top.indices, top.values)
    if temperature == 0:
        return logits.argmax(-1)
    scaled = logits / temperature
    if not torch.isfinite(scaled.max(-1).values).all():  # temperature -> 0: the limit is argmax
        return logits.argmax(-1)
    probs = torch.softmax(scaled, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def iter_ids(
    model: nn.Module,
    prime: torch.Tensor,
    length: int,
    temperature: float = 0.8,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> Iterator[int]:
    """Feed `prime` (1-D ids, not empty), then yield `length` drawn ids, one at a time."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        with torch.no_grad():
            logits, hidden = model(prime.to(device)[None, :])
            for _ in range(length):
                # drawn on the CPU: float64 (next_char) exists on every device there, and a
                # seed gives the same draws from the same logits on CPU, CUDA or MPS
                nxt = next_char(logits[:, -1].float().cpu(), temperature, top_k, generator)
                yield int(nxt)
                logits, hidden = model(nxt.view(1, 1).to(device), hidden)
    finally:
        model.train(was_training)


def load_charlm(checkpoint: str | Path, device: str = "auto") -> tuple[Any, nn.Module, Any]:
    """(config, model in eval mode, vocab) from a charlm checkpoint, without reading the
    training text: the vocabulary travels in the checkpoint."""
    from rnnlab.arguments import check_required
    from rnnlab.config import from_dict
    from rnnlab.data.text import Vocab
    from rnnlab.models.charlm import CharLM
    from rnnlab.training import checkpoint as ckpt
    from rnnlab.training.runtime import resolve_device

    check_required(checkpoint=checkpoint, device=device)
    dev = resolve_device(device)  # a --device typo is found before a checkpoint is read
    payload = ckpt.load_checkpoint(checkpoint)
    task = (payload.get("config") or {}).get("task", payload.get("task"))
    if task != "charlm":
        raise CheckpointError(
            f"{checkpoint} is a '{task}' checkpoint, not a character language model; "
            'sample needs a checkpoint trained with task = "charlm" (e.g. --preset charlm-tiny)'
        )
    cfg = from_dict(payload["config"])
    chars = (payload.get("task_state") or {}).get("vocab")
    if not chars:
        raise CheckpointError(f"{checkpoint} holds no vocabulary; it cannot be sampled")
    vocab = Vocab(chars)
    model = CharLM(len(vocab), cfg.model)
    ckpt.load_model_state(model, payload["model"], str(checkpoint))
    model.to(dev).eval()
    return cfg, model, vocab


def sample_pieces(
    checkpoint: str | Path,
    prime: str = "ROMEO:",
    length: int = 500,
    temperature: float = 0.8,
    top_k: int | None = None,
    seed: int | None = None,
    device: str = "auto",
) -> Iterator[str]:
    """The prime, then each sampled character as it is drawn (for printing as it comes).
    Every argument is checked before the first piece."""
    check_sampling_args(length, temperature, top_k, seed)
    if not isinstance(prime, str) or not prime:
        raise ConfigError("the prime must be a non-empty string; give at least one character")
    _, model, vocab = load_charlm(checkpoint, device)
    unknown = vocab.unknown(prime)
    if unknown:
        shown = ", ".join(repr(c) for c in unknown[:10])
        known = "".join(c for c in vocab.chars if c.isprintable())
        raise ConfigError(
            f"the prime has characters the model never saw: {shown}; give --prime text made "
            f"of its {len(vocab)} characters: {known[:60]!r}{'...' if len(known) > 60 else ''}"
        )
    generator = None
    if seed is not None:
        generator = torch.Generator().manual_seed(seed)  # on the CPU, as iter_ids draws
    return _pieces(model, vocab, prime, length, temperature, top_k, generator)


def _pieces(
    model: nn.Module,
    vocab: Any,
    prime: str,
    length: int,
    temperature: float,
    top_k: int | None,
    generator: torch.Generator | None,
) -> Iterator[str]:
    yield prime
    for i in iter_ids(model, vocab.encode(prime), length, temperature, top_k, generator):
        yield vocab.decode([i])


def sample(
    checkpoint: str | Path,
    prime: str = "ROMEO:",
    length: int = 500,
    temperature: float = 0.8,
    top_k: int | None = None,
    seed: int | None = None,
    device: str = "auto",
) -> str:
    """The prime followed by `length` sampled characters."""
    pieces = sample_pieces(checkpoint, prime, length, temperature, top_k, seed, device)
    return "".join(pieces)
