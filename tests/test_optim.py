"""Every optimizer with its settings, and the learning-rate schedules, value by value."""

from __future__ import annotations

import math

import pytest
import torch

from rnnlab.api import make_config
from rnnlab.training.optim import learning_rate, make_optimizer


def train_cfg(**fields):
    return make_config("seed-c", {f"train.{k}": v for k, v in fields.items()}).train


@pytest.mark.parametrize(
    ("name", "cls", "settings"),
    [
        ("sgd", torch.optim.SGD, {"momentum": 0.9, "weight_decay": 0.01}),
        ("adam", torch.optim.Adam, {"weight_decay": 0.02}),
        ("adamw", torch.optim.AdamW, {"weight_decay": 0.03}),
        ("rmsprop", torch.optim.RMSprop, {"momentum": 0.5, "weight_decay": 0.04}),
    ],
)
def test_each_optimizer_gets_its_settings(name, cls, settings):
    cfg = train_cfg(optimizer=name, lr=0.05, **settings)
    opt = make_optimizer([torch.nn.Parameter(torch.zeros(3))], cfg)
    assert type(opt) is cls
    assert opt.defaults["lr"] == 0.05
    for key, value in settings.items():
        assert opt.defaults[key] == value, key


def test_no_schedule_keeps_the_rate():
    cfg = train_cfg(lr=0.1)
    assert {learning_rate(cfg, it, 100) for it in range(100)} == {0.1}


def test_warmup_rises_linearly_to_the_rate():
    cfg = train_cfg(lr=0.1, warmup=4)
    rates = [learning_rate(cfg, it, 100) for it in range(6)]
    assert rates == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1, 0.1])


def test_step_schedule_multiplies_by_gamma_every_step():
    cfg = train_cfg(lr=0.1, schedule="step", lr_step=10, lr_gamma=0.5)
    assert learning_rate(cfg, 0, 100) == pytest.approx(0.1)
    assert learning_rate(cfg, 9, 100) == pytest.approx(0.1)
    assert learning_rate(cfg, 10, 100) == pytest.approx(0.05)
    assert learning_rate(cfg, 25, 100) == pytest.approx(0.025)


def test_cosine_schedule_falls_from_the_rate_to_zero_after_warmup():
    cfg = train_cfg(lr=0.1, schedule="cosine", warmup=10)
    assert learning_rate(cfg, 9, 110) == pytest.approx(0.1)  # the warmup's last step
    assert learning_rate(cfg, 10, 110) == pytest.approx(0.1)  # the cosine's first
    assert learning_rate(cfg, 60, 110) == pytest.approx(0.05)  # half way
    assert learning_rate(cfg, 110, 110) == pytest.approx(0.0, abs=1e-12)
    rates = [learning_rate(cfg, it, 110) for it in range(10, 110)]
    assert all(a >= b for a, b in zip(rates, rates[1:]))
    assert rates[25] == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi / 4)))
