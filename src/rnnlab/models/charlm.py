"""Character language model: characters -> (embedding | one-hot) -> recurrent core -> logits."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.config import ModelConfig
from rnnlab.models.recurrent import from_config


def repackage(hidden: Any) -> Any:
    """Cut the hidden state from the graph that made it (truncated BPTT): the next batch
    starts from its values but back-propagates no further than its own first step."""
    if hidden is None:
        return None
    if isinstance(hidden, torch.Tensor):
        return hidden.detach()
    return tuple(repackage(h) for h in hidden)


class CharLM(nn.Module):
    """forward(x, hidden) -> (logits, hidden); x is (B, T) character ids, logits (B, T, V).

    Dropout (model.dropout) is applied to the inputs and to the core's outputs, and by the
    core between its layers. Names: `embedding` (absent for one-hot inputs), `rnn`, `decoder`.
    """

    def __init__(self, vocab_size: int, config: ModelConfig) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.embedding: nn.Embedding | None = None
        input_size = vocab_size
        if config.embedding_dim > 0:
            self.embedding = nn.Embedding(vocab_size, config.embedding_dim)
            input_size = config.embedding_dim
        self.rnn = from_config(config, input_size)
        self.drop = nn.Dropout(config.dropout)
        self.decoder = nn.Linear(config.hidden, vocab_size)

    def forward(self, x: torch.Tensor, hidden: Any = None) -> tuple[torch.Tensor, Any]:
        if self.embedding is not None:
            inputs = self.embedding(x)
        else:
            inputs = F.one_hot(x, self.vocab_size).to(self.decoder.weight.dtype)
        out, hidden = self.rnn(self.drop(inputs), hidden)
        return self.decoder(self.drop(out)), hidden
