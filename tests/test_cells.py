"""The hand-written cells against PyTorch's fused modules: names, values, gradients, dropout."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from rnnlab.models.cells import ScratchRecurrent
from rnnlab.models.recurrent import make_recurrent

CELL_TYPES = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
B, T, IN, H = 3, 5, 4, 6  # small sizes keep every case well under a tenth of a second


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # These tensors are tiny: extra threads only add synchronisation, which on a busy machine
    # made the module 30x slower.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def torch_module(cell: str, **kwargs) -> nn.Module:
    if cell == "lstm":
        return nn.LSTM(**kwargs)
    if cell == "gru":
        return nn.GRU(**kwargs)
    return nn.RNN(nonlinearity=cell.removeprefix("rnn_"), **kwargs)


def pair(cell: str, dtype: torch.dtype = torch.float64, **kwargs):
    """A torch module and a scratch module with the torch module's weights (strict load)."""
    kwargs = {"input_size": IN, "hidden_size": H, "batch_first": True, **kwargs}
    ref = torch_module(cell, **kwargs).to(dtype)
    mine = ScratchRecurrent(cell, **kwargs).to(dtype)
    mine.load_state_dict(ref.state_dict(), strict=True)
    return ref, mine


def random_state(cell: str, layers: int, dirs: int, dtype: torch.dtype):
    def one() -> torch.Tensor:
        return torch.randn(layers * dirs, B, H, dtype=dtype, requires_grad=True)

    return (one(), one()) if cell == "lstm" else one()


def states(h_n) -> tuple[torch.Tensor, ...]:
    return tuple(h_n) if isinstance(h_n, tuple) else (h_n,)


def assert_same_forward(ref, mine, x, hx=None, atol=1e-5):
    out_ref, h_ref = ref(x, hx)
    out, h = mine(x, hx)
    assert out.shape == out_ref.shape
    torch.testing.assert_close(out, out_ref, atol=atol, rtol=0)
    assert len(states(h)) == len(states(h_ref))
    for a, b in zip(states(h), states(h_ref)):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, atol=atol, rtol=0)
    return (out_ref, h_ref), (out, h)


@pytest.mark.parametrize("cell", CELL_TYPES)
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [True, False])
def test_outputs_states_and_gradients_match_torch(cell, layers, bidirectional, batch_first):
    torch.manual_seed(0)
    dtype = torch.float64
    dirs = 2 if bidirectional else 1
    ref, mine = pair(
        cell, dtype, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first
    )
    shape = (B, T, IN) if batch_first else (T, B, IN)
    x = torch.randn(*shape, dtype=dtype, requires_grad=True)
    hx = random_state(cell, layers, dirs, dtype)

    (out_ref, h_ref), (out, h) = assert_same_forward(ref, mine, x, hx)
    out_shape = (B, T, H * dirs) if batch_first else (T, B, H * dirs)
    assert out.shape == out_shape
    assert states(h)[0].shape == (layers * dirs, B, H)

    # A random weighting of every output and final state, so each element gets its own gradient.
    weights = [torch.randn_like(t) for t in (out, *states(h))]

    def loss(outputs) -> torch.Tensor:
        return sum((w * t).sum() for w, t in zip(weights, outputs))

    inputs = [x, *states(hx)]
    grads_ref = torch.autograd.grad(loss((out_ref, *states(h_ref))), [*inputs, *ref.parameters()])
    grads = torch.autograd.grad(loss((out, *states(h))), [*inputs, *mine.parameters()])
    names = ["input"] + [f"h0[{i}]" for i in range(len(states(hx)))]
    names += [n for n, _ in mine.named_parameters()]
    assert len(grads) == len(grads_ref) == len(names)
    for name, g, g_ref in zip(names, grads, grads_ref):
        assert g_ref.abs().sum() > 0, name  # the check below is not trivially 0 == 0
        torch.testing.assert_close(g, g_ref, atol=1e-5, rtol=0, msg=f"gradient of {name}")


@pytest.mark.parametrize("cell", CELL_TYPES)
def test_float32_matches_torch_to_1e5(cell):
    torch.manual_seed(1)
    ref, mine = pair(cell, torch.float32, num_layers=2, bidirectional=True)
    assert_same_forward(ref, mine, torch.randn(B, T, IN))


@pytest.mark.parametrize("cell", CELL_TYPES)
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_parameter_names_shapes_and_order_match_torch(cell, layers, bidirectional):
    kwargs = dict(input_size=IN, hidden_size=H, num_layers=layers, bidirectional=bidirectional)
    ref = torch_module(cell, **kwargs)
    mine = ScratchRecurrent(cell, **kwargs)
    assert [(n, p.shape) for n, p in mine.named_parameters()] == [
        (n, p.shape) for n, p in ref.named_parameters()
    ]
    assert any(n.endswith("_reverse") for n, _ in mine.named_parameters()) == bidirectional
    assert list(mine.children()) == []  # no nn.*Cell or other module doing the work
    # Round trip: scratch weights load into torch and come back unchanged, both strict.
    ref.load_state_dict(mine.state_dict(), strict=True)
    back = ScratchRecurrent(cell, **kwargs)
    back.load_state_dict(ref.state_dict(), strict=True)
    for (n, p), (_, q) in zip(mine.named_parameters(), back.named_parameters()):
        assert torch.equal(p, q), n


def test_attributes_callers_read():
    rnn = ScratchRecurrent("gru", IN, H, num_layers=2, batch_first=True, bidirectional=True)
    assert (rnn.input_size, rnn.hidden_size, rnn.num_layers) == (IN, H, 2)
    assert rnn.batch_first is True and rnn.bidirectional is True
    assert ScratchRecurrent("gru", IN, H).batch_first is False  # torch's default


@pytest.mark.parametrize("cell", CELL_TYPES)
def test_initialisation_is_uniform_within_one_over_sqrt_hidden(cell):
    torch.manual_seed(2)
    hidden = 64
    mine = ScratchRecurrent(cell, 32, hidden, num_layers=2)
    bound = 1 / math.sqrt(hidden)
    values = torch.cat([p.detach().flatten() for p in mine.parameters()])
    assert values.abs().max() <= bound
    # U(-a, a) has mean 0 and std a / sqrt(3); tens of thousands of samples pin both down.
    assert abs(values.mean().item()) < 0.05 * bound
    assert values.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.05)
    # The same seed gives the same tensors as torch, which draws them in the same order.
    torch.manual_seed(3)
    ref = torch_module(cell, input_size=32, hidden_size=hidden, num_layers=2)
    torch.manual_seed(3)
    mine = ScratchRecurrent(cell, 32, hidden, num_layers=2)
    for (n, p), (_, q) in zip(mine.named_parameters(), ref.named_parameters()):
        assert torch.equal(p, q), n


@pytest.mark.parametrize("cell", CELL_TYPES)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_no_initial_state_means_zeros(cell, bidirectional):
    torch.manual_seed(4)
    dirs = 2 if bidirectional else 1
    ref, mine = pair(cell, num_layers=2, bidirectional=bidirectional)
    x = torch.randn(B, T, IN, dtype=torch.float64)
    _, (out, h) = assert_same_forward(ref, mine, x, None)
    zeros = torch.zeros(2 * dirs, B, H, dtype=torch.float64)
    out_z, h_z = mine(x, (zeros, zeros) if cell == "lstm" else zeros)
    assert torch.equal(out, out_z)
    for a, b in zip(states(h), states(h_z)):
        assert torch.equal(a, b)


@pytest.mark.parametrize("cell", CELL_TYPES)
def test_without_bias_matches_torch(cell):
    torch.manual_seed(5)
    ref, mine = pair(cell, num_layers=2, bidirectional=True, bias=False)
    assert not any("bias" in n for n, _ in mine.named_parameters())
    assert_same_forward(ref, mine, torch.randn(B, T, IN, dtype=torch.float64))


@pytest.mark.parametrize("cell", CELL_TYPES)
def test_dropout_is_off_in_eval_and_on_between_layers_in_training(cell):
    torch.manual_seed(6)
    ref, mine = pair(cell, num_layers=2, dropout=0.5)
    x = torch.randn(B, T, IN, dtype=torch.float64)
    ref.eval()
    mine.eval()
    assert_same_forward(ref, mine, x)
    assert torch.equal(mine(x)[0], mine(x)[0])

    mine.train()
    (out1, h1), (out2, h2) = mine(x), mine(x)
    assert not torch.allclose(out1, out2)  # a fresh mask on every call
    first1, first2 = states(h1)[0], states(h2)[0]
    # Layer 0 runs before any dropout, so its final state is the eval one on every call.
    eval_first = states(mine.eval()(x)[1])[0]
    torch.testing.assert_close(first1[0], eval_first[0])
    torch.testing.assert_close(first2[0], eval_first[0])
    # No dropout after the last layer: its output at the last step is exactly its final h.
    torch.testing.assert_close(out1[:, -1], first1[-1])


def test_dropout_zero_in_training_is_deterministic():
    torch.manual_seed(7)
    ref, mine = pair("lstm", num_layers=2, dropout=0.0)
    x = torch.randn(B, T, IN, dtype=torch.float64)
    assert_same_forward(ref.train(), mine.train(), x)


def test_bad_arguments_are_reported():
    with pytest.raises(ValueError, match="unknown cell type"):
        ScratchRecurrent("transformer", IN, H)
    with pytest.raises(ValueError, match="dropout"):
        ScratchRecurrent("gru", IN, H, dropout=1.5)
    lstm = ScratchRecurrent("lstm", IN, H, batch_first=True)
    x = torch.randn(B, T, IN)
    with pytest.raises(ValueError, match="pair"):
        lstm(x, torch.zeros(1, B, H))
    with pytest.raises(ValueError, match="shape"):
        lstm(x, (torch.zeros(2, B, H), torch.zeros(2, B, H)))
    with pytest.raises(ValueError, match="input_size"):
        lstm(torch.randn(B, T, IN + 1))
    with pytest.raises(ValueError, match="3-D"):
        lstm(torch.randn(T, IN))


@pytest.mark.parametrize("cell", CELL_TYPES)
def test_builder_scratch_matches_builder_torch(cell):
    torch.manual_seed(8)
    mine = make_recurrent(cell, 28, 16, 2, impl="scratch")
    ref = make_recurrent(cell, 28, 16, 2, impl="torch")
    assert isinstance(mine, ScratchRecurrent)
    assert mine.batch_first and mine.num_layers == 2 and not mine.bidirectional
    assert (mine.input_size, mine.hidden_size) == (28, 16)
    mine.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(4, 7, 28)
    out, h = mine(x)
    assert out.shape == (4, 7, 16)
    assert states(h)[0].shape == (2, 4, 16)
    assert_same_forward(ref, mine, x)
