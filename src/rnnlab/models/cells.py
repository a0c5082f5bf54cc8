"""Hand-written recurrent cells and a multi-layer, bidirectional driver for them.

These exist for teaching: each cell is a few lines of plain tensor ops (`F.linear`, `sigmoid`,
`tanh`), written from the equations in PyTorch's documentation of `nn.RNN`, `nn.LSTM` and
`nn.GRU`. `ScratchRecurrent` stacks them with the same parameter names, shapes, initialisation
and forward contract as those modules, so a state dict moves between the two unchanged and the
outputs agree to rounding error. It is slower than the fused modules; use it to read, step
through or modify a cell, not for speed.

Every cell has the same signature, `cell(x, state, w_ih, w_hh, b_ih, b_hh) -> state`, where `x`
is one time step (B, input), `state` is the hidden state (B, H) or, for the LSTM, the pair
(h, c), and the weights hold all gates stacked along dim 0 in PyTorch's order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence


def rnn_cell(
    x: Tensor,
    h: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
    nonlinearity: Callable[[Tensor], Tensor] = torch.tanh,
) -> Tensor:
    """Elman RNN: mix the new input with the previous state and squash the sum.

    h' = act(W_ih x + b_ih + W_hh h + b_hh), with act = tanh or relu. There are no gates: the
    whole state is overwritten at every step, which is why gradients over long spans vanish
    (or, with relu, can explode).
    """
    return nonlinearity(F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh))


def lstm_cell(
    x: Tensor,
    state: tuple[Tensor, Tensor],
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
) -> tuple[Tensor, Tensor]:
    """LSTM: a memory cell c that gates decide what to forget, what to write and what to show.

    Gates in PyTorch's order i, f, g, o:
      f (forget) scales the old memory, i (input) scales the candidate g written into it,
      o (output) decides how much of tanh(c) becomes the visible state h.
    c' = f * c + i * g,  h' = o * tanh(c'). Because c' is updated additively, gradients can
    flow across many steps while f stays near 1.
    """
    h, c = state
    gates = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)
    i, f, g, o = gates.chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c


def gru_cell(
    x: Tensor,
    h: Tensor,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None,
    b_hh: Tensor | None,
) -> Tensor:
    """GRU: one state, blended between its old value and a candidate by an update gate.

    Gates in PyTorch's order r, z, n:
      r (reset) decides how much of the old state the candidate n may look at,
      z (update) decides how much of the old state to keep.
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),  h' = (1 - z) * n + z * h.
    Note r multiplies W_hn h + b_hn *after* the matrix product, as in PyTorch (and cuDNN),
    so the input and hidden halves must be computed separately rather than summed first.
    """
    x_r, x_z, x_n = F.linear(x, w_ih, b_ih).chunk(3, dim=-1)
    h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, dim=-1)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    return (1 - z) * n + z * h


# cell name -> (step function, number of gate blocks stacked in each weight matrix)
CELLS: dict[str, tuple[Callable, int]] = {
    "rnn_tanh": (partial(rnn_cell, nonlinearity=torch.tanh), 1),
    "rnn_relu": (partial(rnn_cell, nonlinearity=torch.relu), 1),
    "lstm": (lstm_cell, 4),
    "gru": (gru_cell, 3),
}


class ScratchRecurrent(nn.Module):
    """A drop-in for `nn.RNN` / `nn.LSTM` / `nn.GRU` built on the hand-written cells above.

    `forward(x, hx=None) -> (output, h_n)`; for "lstm", `hx` and `h_n` are pairs `(h, c)`.
    Shapes, with D = 2 if bidirectional else 1 and batch_first=True (swap B and T otherwise):
    x (B, T, input_size), output (B, T, D * hidden_size), h_n (num_layers * D, B, hidden_size).
    Input must be batched (3-D).
    """

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown cell type '{cell}'; choose one of: {', '.join(CELLS)}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"dropout must be in [0, 1], got {dropout}")
        self.cell = cell
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.num_directions = 2 if bidirectional else 1
        self._step, gates = CELLS[cell]

        # Registered in torch's order (layer, then direction, then w_ih, w_hh, b_ih, b_hh) so
        # named_parameters() and state_dict() list the same tensors in the same order.
        self._weight_names: list[list[str]] = []
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else hidden_size * self.num_directions
            for direction in range(self.num_directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                shapes = {
                    "weight_ih": (gates * hidden_size, layer_in),
                    "weight_hh": (gates * hidden_size, hidden_size),
                }
                if bias:
                    shapes["bias_ih"] = (gates * hidden_size,)
                    shapes["bias_hh"] = (gates * hidden_size,)
                for name, shape in shapes.items():
                    self.register_parameter(name + suffix, nn.Parameter(torch.empty(shape)))
                self._weight_names.append([name + suffix for name in shapes])
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)), as in torch's recurrent modules."""
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0.0
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _weights(self, index: int) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        w_ih, w_hh, *biases = (getattr(self, name) for name in self._weight_names[index])
        b_ih, b_hh = biases if biases else (None, None)
        return w_ih, w_hh, b_ih, b_hh

    def _initial_state(
        self, hx: Tensor | tuple[Tensor, Tensor] | None, x: Tensor
    ) -> list[Tensor] | list[tuple[Tensor, Tensor]]:
        """One initial state per (layer, direction), in h_n's order; zeros when hx is None."""
        batch = x.shape[0 if self.batch_first else 1]
        shape = (self.num_layers * self.num_directions, batch, self.hidden_size)
        if hx is None:
            zeros = x.new_zeros(shape)
            hx = (zeros, zeros) if self.cell == "lstm" else zeros
        if self.cell == "lstm":
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise ValueError("an LSTM expects hx as a pair (h_0, c_0)")
            for name, t in zip(("h_0", "c_0"), hx):
                self._check_shape(name, t, shape)
            return list(zip(hx[0].unbind(0), hx[1].unbind(0)))
        if not isinstance(hx, Tensor):
            raise ValueError(f"a {self.cell} cell expects hx as one tensor, not a pair")
        self._check_shape("h_0", hx, shape)
        return list(hx.unbind(0))

    @staticmethod
    def _check_shape(name: str, t: Tensor, shape: tuple[int, ...]) -> None:
        if tuple(t.shape) != shape:
            raise ValueError(f"expected {name} of shape {shape}, got {tuple(t.shape)}")

    def forward(
        self, x: Tensor, hx: Tensor | tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor | tuple[Tensor, Tensor]]:
        if isinstance(x, PackedSequence):
            raise TypeError(
                "ScratchRecurrent does not read packed sequences: run each group of "
                "equal-length sequences unpadded (as rnnlab's tagger and seq2seq do)"
            )
        if x.dim() != 3:
            raise ValueError(f"expected batched 3-D input, got shape {tuple(x.shape)}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"expected input_size {self.input_size}, got {x.shape[-1]}")
        time_dim = 1 if self.batch_first else 0
        initial = self._initial_state(hx, x)
        is_lstm = self.cell == "lstm"

        layer_input = x
        finals = []  # final state of each (layer, direction), in h_n's order
        for layer in range(self.num_layers):
            steps = layer_input.unbind(time_dim)
            directions = []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                weights = self._weights(index)
                state = initial[index]
                outputs: list[Tensor] = []
                # The reverse direction reads the sequence from the last step to the first.
                for x_t in reversed(steps) if direction else steps:
                    state = self._step(x_t, state, *weights)
                    outputs.append(state[0] if is_lstm else state)
                if direction:
                    outputs.reverse()  # so output[t] lines up with input step t, as in torch
                finals.append(state)
                directions.append(torch.stack(outputs, dim=time_dim))
            layer_input = torch.cat(directions, dim=-1)
            # Dropout on the outputs of every layer but the last, in training only (as torch).
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)

        if is_lstm:
            h_n = torch.stack([h for h, _ in finals])
            c_n = torch.stack([c for _, c in finals])
            return layer_input, (h_n, c_n)
        return layer_input, torch.stack(finals)

    def extra_repr(self) -> str:
        text = f"{self.cell}, {self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if not self.bias:
            text += ", bias=False"
        if self.batch_first:
            text += ", batch_first=True"
        if self.dropout:
            text += f", dropout={self.dropout}"
        if self.bidirectional:
            text += ", bidirectional=True"
        return text
