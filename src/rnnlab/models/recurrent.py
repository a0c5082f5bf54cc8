"""One builder for every recurrent core: RNN (tanh / ReLU), LSTM and GRU.

`impl="torch"` gives PyTorch's fused modules (cuDNN on GPU, oneDNN on CPU);
`impl="scratch"` gives the hand-written cells of `rnnlab.models.cells`, which have the same
parameter names and shapes, so a state dict moves between the two unchanged.
"""

from __future__ import annotations

from torch import nn

from rnnlab.config import CELLS, ModelConfig
from rnnlab.errors import ConfigError


def make_recurrent(
    cell: str,
    input_size: int,
    hidden: int,
    layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
    impl: str = "torch",
) -> nn.Module:
    """A batch-first recurrent module: (B, T, input_size) -> (B, T, hidden * directions)."""
    if cell not in CELLS:
        raise ConfigError(f"unknown cell type '{cell}'; choose one of: {', '.join(CELLS)}")
    kwargs = dict(
        input_size=input_size,
        hidden_size=hidden,
        num_layers=layers,
        batch_first=True,
        dropout=dropout if layers > 1 else 0.0,  # torch applies it between layers only
        bidirectional=bidirectional,
    )
    if impl == "scratch":
        from rnnlab.models.cells import ScratchRecurrent

        return ScratchRecurrent(cell, **kwargs)
    if impl != "torch":
        raise ConfigError(f"unknown implementation '{impl}'; choose torch or scratch")
    if cell == "lstm":
        return nn.LSTM(**kwargs)
    if cell == "gru":
        return nn.GRU(**kwargs)
    return nn.RNN(nonlinearity=cell.removeprefix("rnn_"), **kwargs)


def from_config(model: ModelConfig, input_size: int) -> nn.Module:
    return make_recurrent(
        model.cell,
        input_size,
        model.hidden,
        model.layers,
        model.bidirectional,
        model.dropout,
        model.impl,
    )


def recurrent_output_size(model: ModelConfig) -> int:
    return model.hidden * (2 if model.bidirectional else 1)


def final_hidden(h_n, cell: str, bidirectional: bool):
    """The last layer's final state, both directions concatenated: (B, hidden * directions).

    For a bidirectional network this is the forward direction after the last step and the
    backward direction after the first, so both have read the whole sequence.
    """
    import torch

    h = h_n[0] if cell == "lstm" else h_n
    if bidirectional:
        return torch.cat([h[-2], h[-1]], dim=-1)
    return h[-1]
