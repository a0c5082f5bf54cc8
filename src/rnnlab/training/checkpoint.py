"""Checkpoints: one file with everything a run needs to be evaluated or resumed exactly.

Written atomically (temporary file in the same folder, then rename), so an interrupted save
never leaves a half-written file in place of a good one, and read with weights_only=True,
so loading a checkpoint never runs code from it.
"""

from __future__ import annotations

import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

from rnnlab.errors import CheckpointError
from rnnlab.results.atomic import atomic_write

FORMAT = "rnnlab-checkpoint"
VERSION = 1
ZIP_MAGIC = b"PK\x03\x04"  # torch.save has written zip archives since torch 1.6
RUN_FILES = ("last.pt", "best.pt")  # a run folder's own checkpoints, rewritten by its run


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    path = Path(path)
    payload = {"format": FORMAT, "version": VERSION, **payload}
    atomic_write(path, lambda f: torch.save(payload, f))
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    if not str(path).strip():  # Path("") is ".", which would be reported as a folder
        raise CheckpointError("no checkpoint given; give the .pt file of a run")
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
        raise CheckpointError(_unreadable(path, exc)) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is a PyTorch file but not an rnnlab checkpoint (no rnnlab header); "
            "give the .pt of an rnnlab run (rnnlab runs lists them)"
        )
    version = payload.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise damaged(path, f"its version {version!r} is not a number")
    if version > VERSION:
        raise CheckpointError(f"{path} was written by a newer rnnlab; upgrade rnnlab to read it")
    damage = _damaged_entry(payload)
    if damage:
        raise damaged(path, damage)
    return payload


def damaged(origin: str | Path, why: str) -> CheckpointError:
    """The error for an rnnlab checkpoint whose content is wrong: the run's other one helps."""
    return CheckpointError(
        f"{origin} is a damaged rnnlab checkpoint ({why}); use another checkpoint of the run "
        "(last.pt / best.pt)"
    )


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _damaged_entry(payload: dict[str, Any]) -> str | None:
    """What is wrong with the entries a resume reads, or None. Every checkpoint rnnlab writes
    has them in these forms; without this check an edited or foreign file failed deep inside
    the resume as an "unexpected KeyError", after its run was already in the store, or
    (a negative iteration, an rng that is not a table) trained on from a wrong state."""
    broken = next((k for k in ("config", "model") if not isinstance(payload.get(k), dict)), None)
    if broken:
        return f"its '{broken}' entry is missing or not a table"
    if "iteration" not in payload:
        return "it has no iteration"
    if not _whole(payload["iteration"]):
        return f"its iteration {payload['iteration']!r} is not a whole number"
    optimizer = payload.get("optimizer")
    if not (
        isinstance(optimizer, dict)
        and isinstance(optimizer.get("state"), dict)
        and isinstance(optimizer.get("param_groups"), list)
    ):
        return "its 'optimizer' entry is missing or not an optimizer's state"
    kinds = {"history": list, "best": dict, "running": dict, "rng": dict, "task_state": dict}
    for key, kind in kinds.items():
        value = payload.get(key)
        if value is not None and not isinstance(value, kind):
            return f"its '{key}' entry should be a {kind.__name__}, not {type(value).__name__}"
    for row in payload.get("history") or []:
        if not isinstance(row, dict) or not _whole(row.get("iteration")):
            return "its metrics history has a row without an iteration"
    generator = (payload.get("rng") or {}).get("torch")
    if generator is not None and not (
        isinstance(generator, torch.Tensor)
        and generator.dtype == torch.uint8
        and generator.numel() == torch.get_rng_state().numel()
    ):
        return "its random generator state is not torch's"
    for key in ("wall_time", "train_time", "samples", "run_id"):
        value = payload.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            return f"its {key} {value!r} is not a number"
    return None


def _unreadable(path: Path, exc: Exception) -> str:
    """Why torch.load failed, in words: torch's own messages run to many lines of advice
    about its internals, none of which helps here."""
    with open(path, "rb") as f:
        magic = f.read(len(ZIP_MAGIC))
    if magic != ZIP_MAGIC:
        return (
            f"{path} is not a checkpoint: it is not a PyTorch .pt file at all "
            f"({_looks_like(magic)}); give the .pt of a run (rnnlab runs lists them)"
        )
    if isinstance(exc, pickle.UnpicklingError):
        return (
            f"{path} holds Python objects besides tensors and plain data, which rnnlab never "
            "loads (no code in a file may run); it is not an rnnlab checkpoint"
        )
    return (
        f"{path} is a damaged or truncated checkpoint (the PyTorch archive cannot be read); "
        "use another checkpoint of the run (last.pt / best.pt) or train again"
    )


def _looks_like(magic: bytes) -> str:
    if not magic:
        return "it is empty"
    if magic.startswith(b"\x89PNG"):
        return "it is a PNG image"
    if magic.startswith(b"SQLi"):
        return "it is an SQLite database"
    if magic.startswith(b"\x1f\x8b"):
        return "it is gzip-compressed"
    try:
        magic.decode("utf-8")
    except UnicodeDecodeError:
        return "it starts with other bytes"
    return "it is text"


def check_save_target(save: str | Path) -> None:
    """Refuse, before any training, a --save name that could not be written or would destroy
    something that is not an earlier --save copy: the results store, a config, a run folder's
    own last.pt / best.pt, any file that is not an rnnlab checkpoint."""
    if not str(save).strip():  # Path("") is "." and would read as this folder
        raise CheckpointError("--save is empty; give a file name, e.g. rnn.pt")
    path = Path(save)
    if path.is_dir():
        raise CheckpointError(
            f"--save {save} is a folder; give a file name, e.g. {path / 'rnn.pt'}"
        )
    if path.exists():
        if path.name in RUN_FILES and (path.parent / "config.toml").is_file():
            raise CheckpointError(
                f"--save {save} is the checkpoint of the run in {path.parent}, which that run "
                "rewrites; give a name outside run folders, e.g. rnn.pt"
            )
        try:
            load_checkpoint(path)
        except CheckpointError:
            raise CheckpointError(
                f"--save {save} would overwrite a file that is not an rnnlab checkpoint; "
                "give a new file name"
            ) from None
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # the folders still missing are made when the file is written
    if not folder.is_dir():
        raise CheckpointError(
            f"--save {save}: {folder} is a file, not a folder; give a path through folders"
        )
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise CheckpointError(
            f"--save {save}: cannot write in {folder} ({exc.strerror or exc}); "
            "give a path in a writable folder"
        ) from None


def state_mismatch(model: torch.nn.Module, state: dict[str, Any]) -> str | None:
    """Why `state` does not fit `model` (a tensor missing, unexpected or of another shape),
    or None when it fits. A non-tensor entry is damage, said by load_model_state."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    if missing or extra:
        return f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"
    for name, tensor in state.items():
        if isinstance(tensor, torch.Tensor) and tuple(own[name].shape) != tuple(tensor.shape):
            return (
                f"{name} is {tuple(tensor.shape)} in the checkpoint but "
                f"{tuple(own[name].shape)} in the model"
            )
    return None


def load_model_state(model: torch.nn.Module, state: dict[str, Any], origin: str) -> None:
    """load_state_dict with a one-line explanation when the shapes or names do not fit."""
    for name, tensor in state.items():
        if not isinstance(tensor, torch.Tensor):
            raise CheckpointError(
                f"checkpoint {origin} is damaged: its {name} is a {type(tensor).__name__}, "
                "not a tensor; use another checkpoint of the run (last.pt / best.pt)"
            )
    mismatch = state_mismatch(model, state)
    if mismatch is not None:
        raise CheckpointError(
            f"checkpoint {origin} does not match the model ({mismatch}); use the checkpoint's "
            "own config (rnnlab inspect CKPT shows it)"
        )
    model.load_state_dict(state)
