"""A config's model without training it: built from shapes where the task can, its size,
and its parameter tensors as `inspect` lists them (also read straight from a checkpoint)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnlab.config import RunConfig
from rnnlab.data.paths import resolve_data_dir
from rnnlab.errors import DataError
from rnnlab.tasks import get_task_class
from rnnlab.training.checkpoint import state_mismatch


def model_from_shapes(cfg: RunConfig) -> nn.Module | None:
    """The model a config describes, where its task builds it from shapes alone; None where
    the data sizes it (a vocabulary decides the embedding size, say)."""
    builder = getattr(get_task_class(cfg.task), "model_from_config", None)
    return builder(cfg) if builder is not None else None


def build_model_without_data(cfg: RunConfig, data_dir: str | Path | None = None) -> nn.Module:
    """The model a config describes: from shapes alone where the task can (no data read),
    else from the task's data."""
    model = model_from_shapes(cfg)
    if model is not None:
        return model
    return get_task_class(cfg.task)(
        cfg, resolve_data_dir(data_dir), torch.device("cpu")
    ).build_model()


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def parameter_count(cfg: RunConfig, data_dir: str | Path | None = None) -> int | None:
    """The size of the model a config describes, or None when the data that sizes it (a
    vocabulary) is not at hand: what a dry run or a plan says instead of failing."""
    try:
        return count_parameters(build_model_without_data(cfg, data_dir))
    except DataError:
        return None


def tensor_listing(
    source: str, cfg: RunConfig, shapes: dict[str, tuple[int, ...]], mismatch: str | None = None
) -> dict[str, Any]:
    """What `inspect` reports: each tensor's name, shape and count, the total, and for a
    checkpoint why its tensors do not fit the model its config describes (None: they fit)."""
    params = [(name, shape, math.prod(shape)) for name, shape in shapes.items()]
    return {
        "source": source,
        "config": cfg.to_dict(),
        "parameters": params,
        "total": sum(p[2] for p in params),
        "mismatch": mismatch,
    }


def config_mismatch(cfg: RunConfig, state: dict[str, Any]) -> str | None:
    """Why a checkpoint's tensors do not fit the model its own config describes (it was
    damaged or edited), or None. Checked where the model builds from shapes alone; a model
    sized by its data (a vocabulary) is not built here, and counts as fitting."""
    model = model_from_shapes(cfg)
    return state_mismatch(model, state) if model is not None else None


def is_checkpoint_file(path: Path) -> bool:
    """A .pt name, or an existing file that is not a .toml and is not text: a config file
    may have any name, and a checkpoint is a zip archive (torch.save's format)."""
    if path.suffix == ".pt":
        return True
    if path.suffix == ".toml" or not path.is_file():
        return False
    try:
        with path.open("rb") as handle:
            return handle.read(2) == b"PK"
    except OSError:
        return False
