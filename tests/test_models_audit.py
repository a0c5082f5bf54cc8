"""Audit of src/rnnlab/models: the cases the main model tests leave out.

3-layer stacks, readouts of bidirectional classifiers, dropout placement in the heads,
parameter counts as `inspect` reports them, reduced and double precision in seq2seq, and
clear errors for inputs the hand-written cells cannot read.
"""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

from rnnlab.api import inspect
from rnnlab.config import ModelConfig
from rnnlab.models.cells import ScratchRecurrent
from rnnlab.models.classifier import SequenceClassifier
from rnnlab.models.seq2seq import EOS, PAD, SOS, Attention, Seq2Seq

CELLS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]


def _states(h) -> tuple[torch.Tensor, ...]:
    return tuple(h) if isinstance(h, tuple) else (h,)


def _padded_source() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(3)
    lengths = torch.tensor([6, 3, 1, 4])
    src = torch.randint(3, 12, (4, 6))
    src[torch.arange(6)[None, :] >= lengths[:, None]] = PAD
    tgt_in = torch.randint(3, 12, (4, 5))
    tgt_in[:, 0] = SOS
    return src, lengths, tgt_in


# --------------------------------------------------------------------------- scratch vs torch


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("batch_first", [True, False])
def test_three_layer_bidirectional_scratch_matches_torch_with_gradients(cell, batch_first):
    torch.manual_seed(0)
    kw = dict(input_size=4, hidden_size=5, num_layers=3, bidirectional=True)
    kw["batch_first"] = batch_first
    if cell == "lstm":
        ref = torch.nn.LSTM(**kw)
    elif cell == "gru":
        ref = torch.nn.GRU(**kw)
    else:
        ref = torch.nn.RNN(nonlinearity=cell.removeprefix("rnn_"), **kw)
    ref = ref.double()
    mine = ScratchRecurrent(cell, **kw).double()
    mine.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(*((3, 6, 4) if batch_first else (6, 3, 4)), dtype=torch.float64)
    x.requires_grad_()
    h0 = [torch.randn(6, 3, 5, dtype=torch.float64, requires_grad=True) for _ in range(2)]
    hx = tuple(h0) if cell == "lstm" else h0[0]
    out_r, h_r = ref(x, hx)
    out_m, h_m = mine(x, hx)
    torch.testing.assert_close(out_m, out_r, atol=1e-10, rtol=0)
    for a, b in zip(_states(h_m), _states(h_r)):
        assert a.shape == (6, 3, 5)
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)
    w = [torch.randn_like(t) for t in (out_r, *_states(h_r))]
    inputs = [x, *_states(hx)]

    def loss(ts):
        return sum((wi * t).sum() for wi, t in zip(w, ts))

    g_r = torch.autograd.grad(loss((out_r, *_states(h_r))), [*inputs, *ref.parameters()])
    g_m = torch.autograd.grad(loss((out_m, *_states(h_m))), [*inputs, *mine.parameters()])
    assert len(g_r) == len(g_m) == len(inputs) + 3 * 2 * 4
    for a, b in zip(g_m, g_r):
        assert b.abs().sum() > 0
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)


def test_scratch_refuses_packed_sequences_with_a_clear_message():
    rnn = ScratchRecurrent("gru", 4, 5, batch_first=True)
    packed = pack_padded_sequence(torch.randn(2, 3, 4), torch.tensor([3, 2]), batch_first=True)
    with pytest.raises(TypeError, match="packed sequences"):
        rnn(packed)


# --------------------------------------------------------------------------- classifier


@pytest.mark.parametrize("impl", ["torch", "scratch"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_bidirectional_classifier_reads_forward_last_and_backward_first(impl, cell):
    torch.manual_seed(1)
    cfg = ModelConfig(cell=cell, hidden=5, layers=2, bidirectional=True, impl=impl)
    model = SequenceClassifier(3, 4, cfg).eval()
    x = torch.randn(2, 6, 3)
    out, _ = model.rnn(x)
    # forward direction after the last step, backward direction after (reading) the first
    feature = torch.cat([out[:, -1, :5], out[:, 0, 5:]], dim=-1)
    torch.testing.assert_close(model(x), model.fc(feature))
    # not the backward direction's output at the last step (it has seen one step only)
    wrong = model.fc(out[:, -1])
    assert not torch.allclose(model(x), wrong, atol=1e-4)


@pytest.mark.parametrize("impl", ["torch", "scratch"])
def test_classifier_dropout_is_between_layers_and_training_only(impl):
    torch.manual_seed(2)
    x = torch.randn(4, 5, 3)
    one = SequenceClassifier(3, 4, ModelConfig(cell="gru", hidden=8, dropout=0.5, impl=impl))
    one.train()
    assert torch.equal(one(x), one(x))  # one layer: nothing between layers to drop
    two = SequenceClassifier(
        3, 4, ModelConfig(cell="gru", hidden=8, layers=2, dropout=0.5, impl=impl)
    )
    two.train()
    assert not torch.allclose(two(x), two(x))
    two.eval()
    assert torch.equal(two(x), two(x))


# --------------------------------------------------------------------------- parameters


def test_sheet_lstm_parameter_list_and_count():
    info = inspect("sheet-lstm")
    shapes = [(n, s) for n, s, _ in info["parameters"]]
    assert shapes == [
        ("rnn.weight_ih_l0", (512, 28)),
        ("rnn.weight_hh_l0", (512, 128)),
        ("rnn.bias_ih_l0", (512,)),
        ("rnn.bias_hh_l0", (512,)),
        ("rnn.weight_ih_l1", (512, 128)),
        ("rnn.weight_hh_l1", (512, 128)),
        ("rnn.bias_ih_l1", (512,)),
        ("rnn.bias_hh_l1", (512,)),
        ("fc.weight", (10, 128)),
        ("fc.bias", (10,)),
    ]
    assert info["total"] == 4 * 128 * (28 + 128 + 2) + 4 * 128 * (128 + 128 + 2) + 1290


def test_scratch_and_bidirectional_parameter_lists_match_torch():
    torch_info = inspect("seed-c", overrides={"model.bidirectional": True})
    scratch_info = inspect(
        "seed-c", overrides={"model.bidirectional": True, "model.impl": "scratch"}
    )
    assert torch_info["parameters"] == scratch_info["parameters"]
    assert len(torch_info["parameters"]) == 2 * 2 * 4 + 2
    per_dir = lambda n_in: 100 * n_in + 100 * 100 + 200  # noqa: E731
    assert torch_info["total"] == 2 * per_dir(28) + 2 * per_dir(200) + 10 * 200 + 10


# --------------------------------------------------------------------------- seq2seq


@pytest.mark.parametrize("cell", ["rnn_tanh", "rnn_relu", "gru", "lstm"])
def test_scratch_seq2seq_runs_under_bf16_autocast_on_padded_sources(cell):
    # The scratch RNN cells return bfloat16 under autocast; the grouped encoder used to
    # allocate its float32 output from x and fail in index_put.
    torch.manual_seed(4)
    cfg = ModelConfig(
        cell=cell, hidden=6, embedding_dim=5, bidirectional=True, attention=True, impl="scratch"
    )
    model = Seq2Seq(12, cfg)
    src, lengths, tgt_in = _padded_source()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(src, lengths, tgt_in)
        tokens, _ = model.greedy(src, lengths, 3)
    assert logits.shape == (4, 5, 12) and torch.isfinite(logits.float()).all()
    logits.float().sum().backward()
    assert model.encoder.weight_ih_l0.grad is not None
    assert tokens.shape[0] == 4


def test_attention_keeps_float64_precision():
    torch.manual_seed(5)
    attn = Attention("dot", 6, 6).double()
    q, k = torch.randn(2, 3, 6, dtype=torch.float64), torch.randn(2, 4, 6, dtype=torch.float64)
    mask = torch.tensor([[True] * 4, [True, True, False, False]])
    context, weights = attn(q, k, mask)
    scores = (q @ k.transpose(1, 2)).masked_fill(~mask[:, None], float("-inf"))
    expected = torch.softmax(scores, dim=-1)
    assert weights.dtype == torch.float64
    torch.testing.assert_close(weights, expected, atol=1e-13, rtol=0)
    torch.testing.assert_close(context, expected @ k, atol=1e-13, rtol=0)


def test_one_hot_seq2seq_follows_the_model_dtype():
    torch.manual_seed(6)
    model = Seq2Seq(12, ModelConfig(cell="gru", hidden=6, embedding_dim=0)).double()
    src, lengths, tgt_in = _padded_source()
    assert model(src, lengths, tgt_in).dtype == torch.float64


def test_greedy_stops_at_eos_or_max_len_and_pads_after_eos():
    torch.manual_seed(7)
    model = Seq2Seq(12, ModelConfig(cell="gru", hidden=6, embedding_dim=5, attention=True)).eval()
    src, lengths, _ = _padded_source()
    with torch.no_grad():
        model.out.bias.zero_()
        model.out.weight.zero_()
        model.out.bias[7] = 10.0  # always predicts token 7: never stops early
    tokens, weights = model.greedy(src, lengths, 5)
    assert tokens.shape == (4, 5) and (tokens == 7).all()
    assert weights.shape == (4, 5, 6)
    assert (weights[2, :, 1:] == 0).all()  # a 1-token source attends to its one token only
    with torch.no_grad():
        model.out.bias[EOS] = 20.0  # always <eos>: stops after one step
    tokens, _ = model.greedy(src, lengths, 5)
    assert tokens.shape == (4, 1) and (tokens == EOS).all()
    with pytest.raises(ValueError, match="max_len"):
        model.greedy(src, lengths, 0)


def test_greedy_pads_rows_that_finished_earlier():
    # The readout is replaced so that row 0 says <eos> at the first step and every row says
    # token 7 otherwise: row 0 must then be padded while the others go on to max_len.
    torch.manual_seed(8)
    model = Seq2Seq(12, ModelConfig(cell="gru", hidden=6, embedding_dim=5, attention=True)).eval()
    src, lengths, _ = _padded_source()
    fed = []  # the tokens each step was given
    real_step = model.step

    def step(tokens, state, enc_out, mask):
        logits, state, w = real_step(tokens, state, enc_out, mask)
        logits = torch.zeros_like(logits)
        logits[..., 7] = 1.0
        if not fed:  # first step: row 0 ends at once
            logits[0, :, EOS] = 2.0
        fed.append(tokens)
        return logits, state, w

    model.step = step
    tokens, _ = model.greedy(src, lengths, 4)
    assert tokens.shape == (4, 4)
    assert tokens[0, 0] == EOS and (tokens[0, 1:] == PAD).all()
    assert (tokens[1:] == 7).all()
    assert len(fed) == 4 and fed[0][:, 0].eq(SOS).all()


def test_teacher_forcing_one_equals_stepwise_true_tokens():
    torch.manual_seed(9)
    cfg = ModelConfig(cell="lstm", hidden=6, embedding_dim=5, attention=True, bidirectional=True)
    model = Seq2Seq(12, cfg).eval()
    src, lengths, tgt_in = _padded_source()
    full = model(src, lengths, tgt_in)
    enc_out, state, mask = model.encode(src, lengths)
    state = model.initial_state(state, 4)
    steps = []
    for t in range(tgt_in.shape[1]):
        logits, state, _ = model.step(tgt_in[:, t : t + 1], state, enc_out, mask)
        steps.append(logits)
    torch.testing.assert_close(full, torch.cat(steps, 1), atol=1e-6, rtol=0)
    # and teacher_forcing=0 feeds the argmax back, which differs from the true tokens here
    own = model(src, lengths, tgt_in, teacher_forcing=0.0)
    assert own.shape == full.shape
    assert torch.equal(own[:, 0], full[:, 0])  # the first step reads <sos> either way
    assert not torch.allclose(own, full, atol=1e-4)
