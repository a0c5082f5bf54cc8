"""Checkpoints: one file with everything a run needs to be evaluated or resumed exactly.

Written atomically (temporary file in the same folder, then rename), so an interrupted save
never leaves a half-written file in place of a good one, and read with weights_only=True,
so loading a checkpoint never runs code from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from rnnlab.errors import CheckpointError
from rnnlab.results.atomic import atomic_write

FORMAT = "rnnlab-checkpoint"
VERSION = 1


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    path = Path(path)
    payload = {"format": FORMAT, "version": VERSION, **payload}
    atomic_write(path, lambda f: torch.save(payload, f))
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        inside = ", ".join(sorted(p.name for p in path.glob("*.pt"))[:3])
        hint = f"; it holds {inside}" if inside else ""
        raise CheckpointError(f"{path} is a folder, not a checkpoint file{hint}; give the .pt file")
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint {path} does not exist; check the path (rnnlab runs lists them)"
        )
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load fails in many ways on a damaged or foreign file
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        # torch's weights_only errors put the useful line last, behind a long preamble
        first = next((ln for ln in lines if "Unpickler error" in ln), lines[0] if lines else "")
        first = first or type(exc).__name__
        raise CheckpointError(
            f"{path} is not a readable rnnlab checkpoint ({first[:160]}); "
            "it may be truncated or from another program"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an rnnlab checkpoint (no rnnlab header)")
    if payload.get("version", 0) > VERSION:
        raise CheckpointError(f"{path} was written by a newer rnnlab; upgrade rnnlab to read it")
    broken = next((k for k in ("config", "model") if not isinstance(payload.get(k), dict)), None)
    if broken:
        raise CheckpointError(
            f"{path} is a damaged rnnlab checkpoint (its '{broken}' entry is missing or not a "
            "table); use another checkpoint of the run (last.pt / best.pt)"
        )
    return payload


def load_model_state(model: torch.nn.Module, state: dict[str, Any], origin: str) -> None:
    """load_state_dict with a one-line explanation when the shapes or names do not fit."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    if missing or extra:
        what = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"
        raise CheckpointError(
            f"checkpoint {origin} does not match the model ({what}); build the model with "
            "the checkpoint's own config (rnnlab inspect CKPT shows it)"
        )
    for name, tensor in state.items():
        if tuple(own[name].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"checkpoint {origin} does not match the model: {name} is "
                f"{tuple(tensor.shape)} in the checkpoint but {tuple(own[name].shape)} in the "
                "model; use the checkpoint's own config (rnnlab inspect CKPT shows it)"
            )
    model.load_state_dict(state)
