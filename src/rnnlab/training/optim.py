"""Optimizers and learning-rate schedules.

The schedule is a pure function of the iteration, applied before every step, so resuming
needs nothing beyond the iteration number.
"""

from __future__ import annotations

import math

import torch

from rnnlab.config import TrainConfig
from rnnlab.training.checkpoint import damaged


def make_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    raise ValueError(f"unknown optimizer {cfg.optimizer}")  # config validation prevents this


def load_optimizer_state(
    optimizer: torch.optim.Optimizer,
    saved: dict,
    saved_kind: str | None,
    cfg: TrainConfig,
    origin: str = "the checkpoint",
) -> None:
    """A checkpoint's optimizer state under the settings of `cfg`: torch's load_state_dict
    also brings back the saved momentum and weight decay, which would silently undo a change
    made on resume. A checkpoint of another optimizer leaves this one's state fresh."""
    if saved_kind is not None and saved_kind != cfg.optimizer:
        return
    settings = dict(optimizer.defaults)
    try:
        optimizer.load_state_dict(saved)
    except (ValueError, KeyError, TypeError, RuntimeError) as exc:
        # the weights fitted the model (checked before the run started), so an optimizer
        # state of other groups or sizes is damage; torch's message names its internals
        detail = " ".join(str(exc).split())[:120]
        raise damaged(origin, f"its optimizer state does not fit the model: {detail}") from None
    for group in optimizer.param_groups:
        group.update(settings)
        if isinstance(optimizer, torch.optim.RMSprop) and group["momentum"] > 0:
            # RMSprop makes its momentum buffer only with the rest of a parameter's state
            for p in group["params"]:
                state = optimizer.state.get(p)
                if state and "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)


def learning_rate(cfg: TrainConfig, iteration: int, total: int) -> float:
    """The learning rate for this (0-based) iteration."""
    if cfg.warmup and iteration < cfg.warmup:
        return cfg.lr * (iteration + 1) / cfg.warmup
    if cfg.schedule == "step":
        return cfg.lr * cfg.lr_gamma ** (iteration // cfg.lr_step)
    if cfg.schedule == "cosine":
        span = max(1, total - cfg.warmup)
        progress = min(1.0, (iteration - cfg.warmup) / span)
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * progress))
    return cfg.lr


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
