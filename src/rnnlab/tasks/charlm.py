"""Character-level language model on any UTF-8 text (SPEC.md section 5).

Truncated back-propagation through time: the hidden state after batch i is detached and fed
to batch i + 1 (which continues every stream of the text), and reset to zeros at the start of
each pass. It is part of the task's checkpoint state, so a resumed run continues exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.config import RunConfig
from rnnlab.data.text import StreamLayout, Vocab, read_text, resolve_text_path, split_text
from rnnlab.errors import ConfigError, DataError
from rnnlab.models.charlm import CharLM, repackage
from rnnlab.tasks.base import Task

# Validation streams first read this many characters unscored, so no stream is scored from
# a cold (all-zero) state; otherwise the loss would depend on the number of streams.
_EVAL_WARMUP = 100
_SAMPLE_LENGTH = 200


@dataclass
class TextDataConfig:
    path: str = "tinyshakespeare/input.txt"  # relative paths resolve against the data dir
    seq_len: int = 128  # truncated-BPTT length: characters per batch row
    val_fraction: float = 0.1  # the last 10 % of the text is validation
    eval_tokens: int = 0  # validation characters scored per evaluation; 0 = all


def _min_train_chars(streams: int, seq_len: int) -> int:
    """The shortest training text StreamLayout gives one batch per pass for."""
    return seq_len + streams * (seq_len + 1)


class CharLMTask(Task):
    name = "charlm"
    DataConfig = TextDataConfig
    primary_metric = "val_loss"
    higher_is_better = False
    # (fc_hidden is refused by validate_config; listed so no note names charlm as its user)
    unused_model_fields = ("fc_hidden", "char_dim", "char_widths", "attention")
    # the validation text is the last data.val_fraction of the file, never trained on
    scoring_data_fields = ("data.path", "data.val_fraction", "data.eval_tokens")
    metric_splits = {"train_loss": "training", "val_loss": "validation", "val_bpc": "validation"}

    def __init__(
        self,
        config: RunConfig,
        data_dir: Path | None,
        device: torch.device,
        state: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(config, data_dir, device, state)
        d: TextDataConfig = config.data
        self.path = resolve_text_path(d.path, data_dir)
        text = read_text(self.path, d.path)
        train_text, val_text = split_text(text, d.val_fraction)
        if state and state.get("vocab"):
            self.vocab = Vocab(state["vocab"])
        else:
            self.vocab = Vocab.from_text(train_text)
        # Characters met only in validation have no id; they are left out of both texts.
        self.dropped_val = len(val_text) - sum(c in self.vocab.index for c in val_text)
        self.train_ids = self.vocab.encode(train_text, skip_unknown=True)
        val_ids = self.vocab.encode(val_text, skip_unknown=True)
        self.val_size = len(val_ids)  # the whole validation part, before eval_tokens cuts it
        if d.eval_tokens:
            val_ids = val_ids[: d.eval_tokens + _EVAL_WARMUP + 1]
        self.val_ids = val_ids
        b = config.train.batch_size
        self.layout = StreamLayout(self.train_ids, b, d.seq_len, config.seed)
        if self.layout.chunks < 1:
            n = len(self.train_ids)
            shown = f"{n:,} character{'s' if n != 1 else ''}"
            if n < _min_train_chars(1, 1):  # no batch size or length fits: only more text does
                raise DataError(
                    f"the training text of {self.path} ({shown}) is too short to learn from; "
                    "give a longer text"
                )
            raise ConfigError(
                f"the training text ({shown}) is too short for {b} streams of {d.seq_len} "
                f"characters (they need at least {_min_train_chars(b, d.seq_len):,}); "
                "lower train.batch_size or data.seq_len"
            )
        if len(self.val_ids) < 2:
            if self.dropped_val:  # the validation part holds text, just not the training's
                unseen = ", ".join(repr(c) for c in self.vocab.unknown(val_text)[:5])
                raise DataError(
                    f"the validation part of {self.path} (its last {len(val_text):,} "
                    f"characters) holds {len(self.val_ids)} of the training part's characters; "
                    "the others "
                    f"({unseen}) never occur in it; raise data.val_fraction, or give a text "
                    "whose end uses the characters of the rest"
                )
            raise ConfigError(
                f"the validation part of {self.path} is empty; raise data.val_fraction"
            )
        self._hidden: Any = None
        self._hidden_for = -1  # the iteration the carried hidden state belongs to
        if state and state.get("hidden") is not None and self._same_layout(state):
            h = state["hidden"]
            h = tuple(t.to(device) for t in h) if isinstance(h, (list, tuple)) else h.to(device)
            self._hidden, self._hidden_for = h, int(state.get("hidden_for", -1))

    def _same_layout(self, state: dict[str, Any]) -> bool:
        """Whether the saved hidden state continues this run's streams. A resume that changes
        train.batch_size or data.seq_len lays the text out anew: the old state belongs to other
        text positions (or has another batch size), so the new layout starts from zeros."""
        saved = state.get("layout")
        if saved is not None:
            return list(saved) == [self.layout.streams, self.layout.seq_len]
        h = state["hidden"]  # a checkpoint from before the layout was saved
        first = h[0] if isinstance(h, (list, tuple)) else h
        return first.shape[1] == self.layout.streams

    @classmethod
    def validate_config(cls, config: RunConfig) -> None:
        d = config.data
        if config.model.bidirectional:
            raise ConfigError(
                "a language model predicts the next character from the past only; "
                "bidirectional cannot be used with task charlm"
            )
        if not d.path:
            raise ConfigError("data.path is empty; name a UTF-8 text file")
        if d.seq_len < 1:
            raise ConfigError(f"data.seq_len must be a positive integer, got {d.seq_len}")
        if not 0 < d.val_fraction < 1:
            raise ConfigError(f"data.val_fraction must be in (0, 1), got {d.val_fraction}")
        if d.eval_tokens < 0:
            raise ConfigError(f"data.eval_tokens must not be negative, got {d.eval_tokens}")
        if config.model.fc_hidden:
            raise ConfigError("model.fc_hidden is not used by task charlm; set it to 0")

    # -- data ----------------------------------------------------------------------------
    @property
    def train_size(self) -> int:
        return self.layout.streams * self.layout.chunks

    def batches_per_epoch(self) -> int:
        return self.layout.chunks

    def batch(self, iteration: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.layout.batch(iteration)
        return x.to(self.device), y.to(self.device)

    # -- model ---------------------------------------------------------------------------
    def build_model(self) -> nn.Module:
        return CharLM(len(self.vocab), self.config.model)

    def loss(self, model: nn.Module, batch: Any, iteration: int) -> tuple[torch.Tensor, dict]:
        x, y = batch
        carried = self._hidden_for == iteration and not self.layout.starts_pass(iteration)
        logits, hidden = model(x, self._hidden if carried else None)
        self._hidden, self._hidden_for = repackage(hidden), iteration + 1
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))
        return loss, {}

    # -- evaluation ----------------------------------------------------------------------
    @classmethod
    def metric_names(cls, config: RunConfig) -> list[str]:
        return ["train_loss", "val_loss", "val_bpc"]

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Mean loss over the validation text, read as parallel streams with the hidden state
        carried from chunk to chunk."""
        was_training = model.training
        model.eval()
        ids = self.val_ids
        warm = min(_EVAL_WARMUP, max(0, len(ids) - 2))
        streams = max(1, min(self.config.train.batch_size, (len(ids) - 1 - warm) // 8))
        span = (len(ids) - 1 - warm) // streams  # scored characters per stream
        base = torch.arange(streams) * span
        hidden = None
        if warm:
            _, hidden = model(ids[base[:, None] + torch.arange(warm)].to(self.device))
        total, count = 0.0, 0
        step = self.config.data.seq_len
        for start in range(0, span, step):
            n = min(step, span - start)
            idx = base[:, None] + warm + start + torch.arange(n + 1)
            window = ids[idx].to(self.device)
            logits, hidden = model(window[:, :-1], hidden)
            total += F.cross_entropy(
                logits.float().reshape(-1, logits.shape[-1]),
                window[:, 1:].reshape(-1),
                reduction="sum",
            ).item()
            count += window[:, 1:].numel()
        model.train(was_training)
        loss = total / max(1, count)
        return {"val_loss": loss, "val_bpc": loss / math.log(2)}

    def format_metrics(self, metrics: dict[str, float]) -> str:
        return (
            f"Validation loss: {metrics['val_loss']:.4f} nats/char "
            f"({metrics['val_bpc']:.3f} bits/char)"
        )

    @classmethod
    def speed_text(cls, config: RunConfig, samples_per_sec: float) -> str:
        return f"{samples_per_sec * config.data.seq_len:,.0f} chars/s"

    def on_eval(self, model: nn.Module, iteration: int) -> str | None:
        """A short sample, so a user watches the model learn. Its own generator leaves the
        global RNG (dropout masks) untouched: a resumed run draws the same masks."""
        from rnnlab.inference.sampling import iter_ids

        prime = "\n" if "\n" in self.vocab.index else self.vocab.chars[0]
        g = torch.Generator().manual_seed(self.config.seed + iteration)  # iter_ids draws on CPU
        ids = list(iter_ids(model, self.vocab.encode(prime), _SAMPLE_LENGTH, 0.8, None, g))
        text = self.vocab.decode(ids).rstrip()
        return f"--- sample at iteration {iteration} (temperature 0.8) ---\n{text}\n---"

    # -- checkpoints ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        h = self._hidden
        if isinstance(h, tuple):
            h = [t.cpu() for t in h]
        elif h is not None:
            h = h.cpu()
        return {
            "vocab": self.vocab.chars,
            "hidden": h,
            "hidden_for": self._hidden_for,
            "layout": [self.layout.streams, self.layout.seq_len],
        }

    def describe(self) -> str:
        d = self.config.data
        dropped = f" ({self.dropped_val} unseen characters skipped)" if self.dropped_val else ""
        scored = (
            f" ({d.eval_tokens:,} scored per evaluation)"
            if d.eval_tokens and d.eval_tokens < self.val_size
            else ""
        )
        return (
            f"{d.path}: {len(self.train_ids):,} training / {self.val_size:,} validation "
            f"characters{scored}{dropped}, vocabulary {len(self.vocab)}, "
            f"{self.layout.streams} streams x {d.seq_len} steps, "
            f"{self.layout.chunks} batches per pass"
        )
