"""Sequence classifier: a recurrent core read to the end, then a linear readout."""

from __future__ import annotations

import torch
from torch import nn

from rnnlab.config import ModelConfig
from rnnlab.models.recurrent import final_hidden, from_config, recurrent_output_size


class SequenceClassifier(nn.Module):
    """(B, T, features) -> (B, classes) logits from the final hidden state.

    Parameter names follow the tutorials: `rnn.*` for the recurrent core and `fc.*` for the
    readout, so a 1-layer RNN has exactly six tensors. The optional extra layer is `extra_fc`.
    """

    def __init__(self, input_size: int, num_classes: int, config: ModelConfig) -> None:
        super().__init__()
        self.cell = config.cell
        self.bidirectional = config.bidirectional
        self.rnn = from_config(config, input_size)
        width = recurrent_output_size(config)
        self.extra_fc: nn.Module | None = None
        if config.fc_hidden:
            self.extra_fc = nn.Sequential(nn.Linear(width, config.fc_hidden), nn.ReLU())
            width = config.fc_hidden
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, h_n = self.rnn(x)  # h0 defaults to zeros, as in the tutorials
        h = final_hidden(h_n, self.cell, self.bidirectional)
        if self.extra_fc is not None:
            h = self.extra_fc(h)
        return self.fc(h)
