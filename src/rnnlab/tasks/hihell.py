"""The nn.RNN tutorial's first exercise: map "hihell" to "ihello" (SPEC.md section 5).

One-hot characters in, one prediction per time step out, cross-entropy over the steps.
The single training pair is the whole data set, so every batch is that pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.config import ModelConfig, RunConfig
from rnnlab.errors import ConfigError
from rnnlab.models.recurrent import from_config, recurrent_output_size
from rnnlab.tasks.base import Task


@dataclass
class HihellDataConfig:
    source: str = "hihell"
    target: str = "ihello"


class StepPredictor(nn.Module):
    """(B, T, features) -> (B, T, classes): a recurrent core with a readout at every step."""

    def __init__(self, input_size: int, num_classes: int, config: ModelConfig) -> None:
        super().__init__()
        self.rnn = from_config(config, input_size)
        self.fc = nn.Linear(recurrent_output_size(config), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.fc(out)


def vocabulary(source: str, target: str) -> list[str]:
    return sorted(set(source) | set(target))


class HihellTask(Task):
    name = "hihell"
    DataConfig = HihellDataConfig
    primary_metric = "acc"
    higher_is_better = True
    dropout_between_layers_only = True  # torch's recurrent modules: between stacked layers
    # one-hot characters straight into the core, one linear readout per step
    unused_model_fields = ("fc_hidden", "embedding_dim", "char_dim", "char_widths", "attention")
    # evaluate() scores the single training pair: there is no held-out data at all
    scoring_data_fields = ("data.source", "data.target")
    metric_splits = {
        "train_loss": "training",
        "acc": "training",
        "exact": "training",
        "loss": "training",
    }

    def __init__(
        self,
        config: RunConfig,
        data_dir: Path | None,
        device: torch.device,
        state: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(config, data_dir, device, state)
        d: HihellDataConfig = config.data
        own = vocabulary(d.source, d.target)
        self.chars = list(state["chars"]) if state and "chars" in state else own
        if not set(own) <= set(self.chars):
            # A resumed run keeps its model: one input and one output per character it knows.
            raise ConfigError(
                f"'{d.source}' -> '{d.target}' is written with the characters "
                f"'{''.join(own)}', but this checkpoint's model knows '{''.join(self.chars)}'; "
                "a resumed run keeps its model's characters: keep data.source and data.target "
                "(or train a new run)"
            )
        index = {c: i for i, c in enumerate(self.chars)}
        src = torch.tensor([index[c] for c in d.source], device=device)
        self.x = F.one_hot(src, len(self.chars)).float().unsqueeze(0)  # (1, T, V)
        self.y = torch.tensor([[index[c] for c in d.target]], device=device)  # (1, T)

    @classmethod
    def validate_config(cls, config: RunConfig) -> None:
        d = config.data
        if not d.source:
            raise ConfigError("data.source must not be empty")
        if len(d.source) != len(d.target):
            raise ConfigError(
                f"data.source and data.target must have the same length, got "
                f"'{d.source}' ({len(d.source)}) and '{d.target}' ({len(d.target)})"
            )
        if config.train.batch_size > 1:
            raise ConfigError(
                f"the hihell task has a single training pair; use train.batch_size=1, "
                f"got {config.train.batch_size}"
            )

    # -- data ----------------------------------------------------------------------------
    @property
    def train_size(self) -> int:
        return 1

    def batch(self, iteration: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x, self.y

    # -- model ---------------------------------------------------------------------------
    def build_model(self) -> nn.Module:
        return StepPredictor(len(self.chars), len(self.chars), self.config.model)

    @classmethod
    def model_from_config(cls, config: RunConfig) -> nn.Module:
        n = len(vocabulary(config.data.source, config.data.target))
        return StepPredictor(n, n, config.model)

    def loss(self, model: nn.Module, batch: Any, iteration: int) -> tuple[torch.Tensor, dict]:
        x, y = batch
        logits = model(x).float()
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)), {}

    # -- evaluation ----------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, model: nn.Module) -> str:
        was_training = model.training
        model.eval()
        ids = model(self.x).argmax(-1)[0].tolist()
        model.train(was_training)
        return "".join(self.chars[i] for i in ids)

    @classmethod
    def metric_names(cls, config: RunConfig) -> list[str]:
        return ["train_loss", "acc", "exact", "loss"]

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        was_training = model.training
        model.eval()
        logits = model(self.x).float()
        model.train(was_training)
        pred = logits.argmax(-1)
        return {
            "acc": (pred == self.y).float().mean().item(),
            "exact": float(bool((pred == self.y).all())),
            "loss": F.cross_entropy(logits[0], self.y[0]).item(),
        }

    def format_metrics(self, metrics: dict[str, float]) -> str:
        return f"Accuracy: {metrics['acc']:.3f}. Exact: {metrics['exact']:.0f}"

    def on_eval(self, model: nn.Module, iteration: int) -> str | None:
        return f'predicted: "{self.predict(model)}"'

    # -- checkpoints ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"chars": list(self.chars)}

    def describe(self) -> str:
        d = self.config.data
        return f'"{d.source}" -> "{d.target}", {len(self.chars)} characters one-hot'
