"""The machine side of a run: device, threads, seeds, precision and version facts."""

from __future__ import annotations

import contextlib
import platform
import random
import sys

import numpy as np
import torch

import rnnlab
from rnnlab.config import RunConfig, check_device
from rnnlab.errors import ConfigError
from rnnlab.training.allocator import allocator_state


def resolve_device(name: str) -> torch.device:
    """The torch device for a --device value, or a one-line error: a name torch does not
    know (tpu), or a device this machine lacks (cuda without a GPU, cuda:3 with two)."""
    check_device(name)  # the same names for training and for evaluate/predict/sample/...
    if name.startswith("cuda:"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if int(name[5:]) >= count:
            have = (
                "no CUDA GPU"
                if not count
                else "one GPU, cuda:0"
                if count == 1
                else f"{count} GPUs, cuda:0..cuda:{count - 1}"
            )
            raise ConfigError(
                f"device '{name}' was asked for but this machine has {have}; "
                f"use --device {'cuda' if count else 'cpu'}"
            )
        return torch.device(name)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "device 'cuda' was asked for but no CUDA GPU is available; use --device cpu"
        )
    if name == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ConfigError("device 'mps' was asked for but MPS is not available; use --device cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# (the count before rnnlab set one, the count it set): threads = 0 means torch's default,
# which an earlier run of this process must not have replaced (hihell sets threads = 1)
_set_by_rnnlab: tuple[int, int] | None = None


def set_threads(threads: int) -> None:
    """torch's intra-op threads for a run; 0 gives back the count the process had before an
    earlier run changed it, so a run's thread count (and its float rounding) never depends
    on what ran before it in the same process."""
    global _set_by_rnnlab
    current = torch.get_num_threads()
    # a count someone else set since rnnlab's change is the process's own again
    own = _set_by_rnnlab[0] if _set_by_rnnlab and current == _set_by_rnnlab[1] else current
    wanted = threads or own
    if wanted != current:
        torch.set_num_threads(wanted)
    _set_by_rnnlab = (own, threads) if threads else None


def cpu_bf16_fast() -> bool:
    """True where oneDNN runs bfloat16 natively (without it bf16 autocast is ~30x slower)."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(cfg: RunConfig, device: torch.device) -> str:
    """'fp32' or 'bf16'. 'auto' picks bf16 only where benchmarks/run.py shows it pays:
    nn.LSTM on a CPU with native bf16 (about 2x, same accuracy); RNN and GRU get slower."""
    p = cfg.train.precision
    if p != "auto":
        if p == "bf16" and device.type == "cpu" and not cpu_bf16_fast():
            raise ConfigError(
                "precision bf16 needs a CPU with native bfloat16 (oneDNN); use --precision fp32"
            )
        return p
    fast = device.type == "cpu" and cpu_bf16_fast()
    return "bf16" if fast and cfg.model.cell == "lstm" and cfg.model.impl == "torch" else "fp32"


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def versions() -> dict[str, str]:
    return {
        "rnnlab": rnnlab.__version__,
        "torch": str(torch.__version__),
        "numpy": str(np.__version__),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "threads": str(torch.get_num_threads()),
        "cuda": str(torch.version.cuda or ""),
        "malloc": allocator_state(),
    }
