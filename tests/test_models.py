"""The recurrent builder and the classifier: parameter lists, shapes, every option."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnlab.api import inspect, make_config
from rnnlab.config import ModelConfig
from rnnlab.models.classifier import SequenceClassifier
from rnnlab.models.recurrent import make_recurrent


def test_one_layer_rnn_has_the_six_tensors_of_the_tutorial():
    info = inspect("seed-a")
    assert [(n, s) for n, s, _ in info["parameters"]] == [
        ("rnn.weight_ih_l0", (100, 28)),
        ("rnn.weight_hh_l0", (100, 100)),
        ("rnn.bias_ih_l0", (100,)),
        ("rnn.bias_hh_l0", (100,)),
        ("fc.weight", (10, 100)),
        ("fc.bias", (10,)),
    ]
    assert info["total"] == 100 * 28 + 100 * 100 + 200 + 1010


def test_two_layer_rnn_has_ten_tensors():
    info = inspect("seed-c")
    assert len(info["parameters"]) == 10
    assert ("rnn.weight_ih_l1", (100, 100), 10000) in info["parameters"]


@pytest.mark.parametrize("cell", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_builder_shapes_follow_pytorch(cell, bidirectional):
    rnn = make_recurrent(cell, 28, 16, layers=2, bidirectional=bidirectional)
    dirs = 2 if bidirectional else 1
    x = torch.randn(5, 7, 28)  # (batch, seq, feature) with batch_first
    out, h_n = rnn(x)
    assert out.shape == (5, 7, 16 * dirs)
    h = h_n[0] if cell == "lstm" else h_n
    assert h.shape == (2 * dirs, 5, 16)  # (num_layers * num_directions, batch, hidden)
    expected = {"rnn_tanh": nn.RNN, "rnn_relu": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
    assert isinstance(rnn, expected)
    if cell.startswith("rnn_"):
        assert rnn.nonlinearity == cell.split("_")[1]


@pytest.mark.parametrize("cell", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
def test_classifier_options(cell):
    cfg = ModelConfig(cell=cell, hidden=12, layers=2, bidirectional=True, dropout=0.3, fc_hidden=20)
    model = SequenceClassifier(28, 10, cfg)
    assert model.extra_fc is not None and model.fc.in_features == 20
    assert model.extra_fc[0].in_features == 2 * 12  # both directions feed the extra layer
    assert model.rnn.dropout == 0.3 and model.rnn.bidirectional and model.rnn.num_layers == 2
    if cell.startswith("rnn_"):
        assert model.rnn.nonlinearity == cell.removeprefix("rnn_")
    logits = model(torch.rand(4, 28, 28))
    assert logits.shape == (4, 10)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_bidirectional_readout_sees_the_whole_sequence():
    torch.manual_seed(0)
    model = SequenceClassifier(3, 2, ModelConfig(cell="gru", hidden=4, bidirectional=True)).eval()
    x = torch.rand(1, 6, 3)
    x2 = x.clone()
    x2[:, 0] += 1.0  # change only the first step
    x3 = x.clone()
    x3[:, -1] += 1.0  # change only the last step
    base = model(x)
    assert not torch.allclose(base, model(x2)) and not torch.allclose(base, model(x3))


def test_pixel_view_model_reads_one_feature_per_step():
    cfg = make_config("seed-c", {"data.view": "pixels"})
    info = inspect("seed-c", overrides={"data.view": "pixels"})
    assert ("rnn.weight_ih_l0", (100, 1), 100) in info["parameters"]
    assert ("rnn.weight_ih_l0", (100, 28), 2800) in inspect("seed-c")["parameters"]  # rows
    from rnnlab.tasks.sizing import build_model_without_data

    model = build_model_without_data(cfg)
    assert model.rnn.weight_ih_l0.shape == (100, 1)
