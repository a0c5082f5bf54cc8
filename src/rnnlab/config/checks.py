"""Validation: values no run could use are refused, each naming the field and its range."""

from __future__ import annotations

import dataclasses
import math
import unicodedata
from typing import TYPE_CHECKING

from rnnlab.errors import ConfigError

if TYPE_CHECKING:
    from rnnlab.config.schema import RunConfig

CELLS = ("rnn_tanh", "rnn_relu", "lstm", "gru")
IMPLS = ("torch", "scratch")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULES = ("none", "step", "cosine")
PRECISIONS = ("fp32", "bf16", "auto")
DEVICES = ("auto", "cpu", "cuda", "mps")


def _choice(value: str, choices: tuple[str, ...], where: str) -> None:
    if value not in choices:
        raise ConfigError(f"unknown {where} '{value}'; choose one of: {', '.join(choices)}")


MAX_INT = 2**63 - 1  # what the results store (SQLite) and torch's seeds hold
# torch turns float settings (lr, weight decay) into float32 scalars: beyond this they overflow
MAX_FLOAT = 3.4028234663852886e38
MAX_THREADS = 1024  # far past any CPU; torch crashes on absurd thread counts
# Building a model is a Python loop over its layers: 10**8 layers hang instead of failing.
# Widths need no such bound: an absurd one fails at once with the out-of-memory line.
MAX_LAYERS = 1000
# train.epochs times the batches of an epoch is the run's length, which the results store
# (a 64-bit integer) records; 1e300 epochs would fail there after the run was created.
MAX_EPOCHS = 1_000_000
# The run folder is NAME-ID: the name's UTF-8 plus "-" and up to 19 digits must fit the
# 255 bytes most file systems allow for a file name.
MAX_NAME_BYTES = 200


def check_device(name: str) -> None:
    """auto, cpu, cuda, cuda:N or mps: the devices a run or a loaded checkpoint can use
    (whether this machine has it is resolve_device's question)."""
    base, colon, index = name.partition(":")
    if base in DEVICES and not colon:
        return
    if base == "cuda" and index.isascii() and index.isdigit():
        return
    raise ConfigError(
        f"unknown device '{name}'; choose one of: {', '.join(DEVICES)}, or cuda:N for one GPU"
    )


def check_name(name: str) -> None:
    """A run name that fits a folder name and prints on one line in `rnnlab runs`. Empty is
    the unset default (the run is named after its task); naming a run "" is refused by
    apply_override, where the user gives it."""
    bad = [c for c in name if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp")]
    if bad:
        raise ConfigError(
            f"name {name!r} contains the control character {bad[0]!r}; give a name of "
            "printable characters (letters, digits, - and _ read best)"
        )
    size = len(name.encode("utf-8", errors="surrogatepass"))
    if size > MAX_NAME_BYTES:
        raise ConfigError(
            f"name is too long: {len(name)} characters ({size} bytes in UTF-8) where the run "
            f"folder allows {MAX_NAME_BYTES} bytes; give a shorter name"
        )


def check_seed(seed: int) -> None:
    """A seed every consumer takes: torch, NumPy (mod 2**32) and the results store."""
    if not 0 <= seed <= MAX_INT:
        raise ConfigError(f"seed must be between 0 and 2**63-1, got {seed}")


def _check_numbers(cfg: RunConfig) -> None:
    """Every number in every section is finite and fits a 64-bit integer: NaN slips past
    comparisons such as `< 0`, and inf or a huge integer fails deep inside torch. Every
    string is UTF-8 text."""
    sections = {"run": cfg, "data": cfg.data, "model": cfg.model, "train": cfg.train}
    for section, values in sections.items():
        if values is None:
            continue
        for f in dataclasses.fields(values):
            value = getattr(values, f.name)
            where = f.name if section == "run" else f"{section}.{f.name}"
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{where} must be a finite number, got {value}")
            # (train.epochs never reaches torch; validate gives it a bound of its own)
            if isinstance(value, float) and abs(value) > MAX_FLOAT and where != "train.epochs":
                raise ConfigError(
                    f"{where} is too large: {value:g}; the most a float32 model can use is "
                    f"{MAX_FLOAT:.3g}"
                )
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
                raise ConfigError(f"{where} is too large: {value}; the most it can be is 2**63-1")
            if isinstance(value, str):
                _check_text(value, where)


def _check_text(value: str, where: str) -> None:
    """A string field is UTF-8 text: the run's config.toml and the results store hold it so.
    A file name that is not UTF-8 (Python reads its bytes as lone surrogates) could not be
    written there, and the run would fail after it was created."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        char = ord(value[exc.start])
        what = f"byte 0x{char - 0xDC00:02x}" if 0xDC80 <= char <= 0xDCFF else f"U+{char:04X}"
        raise ConfigError(
            f"{where} {value!r} is not UTF-8 text ({what} at position {exc.start}); "
            "give a UTF-8 value (rename a file whose name is not UTF-8)"
        ) from None


def validate(cfg: RunConfig) -> None:
    """Reject values no run could use, naming the field and the allowed range."""
    from rnnlab.tasks import get_task_class

    m, t = cfg.model, cfg.train
    _check_numbers(cfg)
    _choice(m.cell, CELLS, "cell type (model.cell)")
    _choice(m.impl, IMPLS, "implementation (model.impl)")
    _choice(t.optimizer, OPTIMIZERS, "optimizer (train.optimizer)")
    _choice(t.schedule, SCHEDULES, "LR schedule (train.schedule)")
    _choice(t.precision, PRECISIONS, "precision (train.precision)")
    check_device(cfg.device)
    check_name(cfg.name)
    positive = {
        "model.hidden": m.hidden,
        "model.layers": m.layers,
        "train.batch_size": t.batch_size,
        "train.eval_every": t.eval_every,
        "train.eval_batch_size": t.eval_batch_size,
    }
    for where, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{where} must be a positive integer, got {value}")
    non_negative = {
        "model.fc_hidden": m.fc_hidden,
        "model.embedding_dim": m.embedding_dim,
        "model.char_dim": m.char_dim,
        "train.iters": t.iters,
        "train.epochs": t.epochs,
        "train.momentum": t.momentum,
        "train.weight_decay": t.weight_decay,
        "train.clip_grad": t.clip_grad,
        "train.warmup": t.warmup,
        "threads": cfg.threads,
    }
    for where, value in non_negative.items():
        if value < 0:
            raise ConfigError(f"{where} must not be negative, got {value}")
    check_seed(cfg.seed)
    if cfg.threads > MAX_THREADS:
        raise ConfigError(f"threads must be at most {MAX_THREADS}, got {cfg.threads}")
    if m.layers > MAX_LAYERS:
        raise ConfigError(f"model.layers must be at most {MAX_LAYERS}, got {m.layers}")
    if t.epochs > MAX_EPOCHS:
        raise ConfigError(
            f"train.epochs must be at most {MAX_EPOCHS:,}, got {t.epochs:g}; "
            "for a longer run give train.iters"
        )
    if not t.lr > 0:
        raise ConfigError(f"train.lr must be a positive number, got {t.lr}")
    if not 0 <= m.dropout < 1:
        raise ConfigError(f"model.dropout must be in [0, 1), got {m.dropout}")
    if t.iters == 0 and t.epochs == 0:
        raise ConfigError("set train.iters or train.epochs to a positive number")
    # checked whatever the schedule, as momentum is whatever the optimizer: a value no run
    # could use is refused, not kept until the schedule is switched to step
    if t.lr_step <= 0:
        raise ConfigError(
            f"train.lr_step must be a positive integer (iterations between the step "
            f"schedule's decays), got {t.lr_step}"
        )
    if not 0 < t.lr_gamma <= 1:
        raise ConfigError(
            f"train.lr_gamma must be in (0, 1] (the step schedule's factor per decay), "
            f"got {t.lr_gamma}"
        )
    get_task_class(cfg.task).validate_config(cfg)
