"""Presets, TOML configs, overrides and the validation of every hyper-parameter."""

from __future__ import annotations

import pytest

from rnnlab.api import make_config
from rnnlab.config import (
    apply_overrides,
    from_dict,
    load_config_file,
    load_preset,
    preset_names,
    to_toml,
)
from rnnlab.errors import ConfigError

SPEC_PRESETS = {
    # name: (cell, hidden, layers, optimizer, lr)
    "seed-a": ("rnn_relu", 100, 1, "sgd", 0.01),
    "seed-b": ("rnn_relu", 100, 2, "sgd", 0.01),
    "seed-c": ("rnn_tanh", 100, 2, "sgd", 0.1),
    "sheet-rnn": ("rnn_tanh", 128, 2, "adam", 0.001),
    "sheet-lstm": ("lstm", 128, 2, "adam", 0.001),
    "lstm-2ep": ("lstm", 128, 2, "adam", 0.01),
}


def test_every_preset_loads():
    names = preset_names()
    for name in [*SPEC_PRESETS, "gru", "bidirectional-lstm", "adam-rnn"]:
        assert name in names
    for name in names:
        cfg = load_preset(name)
        assert cfg.name == name


@pytest.mark.parametrize("name", list(SPEC_PRESETS))
def test_spec_presets_match_the_table(name):
    cfg = load_preset(name)
    cell, hidden, layers, opt, lr = SPEC_PRESETS[name]
    assert (cfg.model.cell, cfg.model.hidden, cfg.model.layers) == (cell, hidden, layers)
    assert (cfg.train.optimizer, cfg.train.lr, cfg.train.batch_size) == (opt, lr, 100)
    assert cfg.data.view == "rows"
    if name == "lstm-2ep":
        assert cfg.train.epochs == 2
    else:
        assert cfg.train.iters == 3000 and cfg.train.eval_every == 500


def test_overrides_are_typed_and_revalidated():
    cfg = make_config("seed-c", ["model.hidden=64", "train.lr=0.5", "model.bidirectional=true"])
    assert cfg.model.hidden == 64 and cfg.train.lr == 0.5 and cfg.model.bidirectional is True
    cfg = make_config("lstm-2ep", {"train.iters": 10})
    assert cfg.train.iters == 10 and cfg.train.epochs == 0  # the later of iters/epochs wins


def test_toml_round_trip(tmp_path):
    cfg = make_config("sheet-lstm", {"model.dropout": 0.25, "seed": 7})
    path = tmp_path / "run.toml"
    path.write_text(to_toml(cfg))
    again = load_config_file(path)
    again.name = cfg.name
    assert again.to_dict() == cfg.to_dict()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"model.cell": "transformer"}, "unknown cell type .model.cell. 'transformer'"),
        ({"train.optimizer": "adagrad"}, "unknown optimizer .train.optimizer. 'adagrad'"),
        ({"model.hidden": 0}, "model.hidden must be a positive integer, got 0"),
        ({"train.lr": -0.1}, "train.lr must be a positive number, got -0.1"),
        ({"train.batch_size": -5}, "train.batch_size must be a positive integer"),
        ({"model.dropout": 1.5}, r"model.dropout must be in \[0, 1\)"),
        ({"model.hidden": "big"}, "model.hidden must be an integer, got 'big'"),
        ({"model.colour": 3}, "unknown field 'colour' in \\[model\\]"),
        ({"device": "tpu"}, "unknown device 'tpu'"),
        ({"data.view": "columns"}, "unknown view 'columns'"),
        ({"data.order": "random"}, "unknown data.order 'random'; choose one of: dataloader"),
        ({"data.dataset": "cifar"}, "unknown dataset 'cifar'"),
        ({"train.momentum": "nan"}, "train.momentum must be a finite number, got nan"),
        ({"train.clip_grad": float("nan")}, "train.clip_grad must be a finite number"),
        ({"train.epochs": "inf"}, "train.epochs must be a finite number, got inf"),
        ({"train.lr": "inf"}, "train.lr must be a finite number"),
        ({"seed": -1}, r"seed must be between 0 and 2\*\*63-1, got -1"),
        ({"seed": "99999999999999999999"}, "seed is too large: 99999999999999999999"),
        ({"model.hidden": 2**70}, "model.hidden is too large"),
        ({"train.lr": 1e300}, "train.lr is too large: 1e.300; the most a float32 model can use"),
        ({"train.weight_decay": "1e39"}, "train.weight_decay is too large"),
        ({"threads": 100000}, "threads must be at most 1024, got 100000"),
    ],
)
def test_invalid_values_are_one_line_errors(override, message):
    cfg = load_preset("seed-c")
    with pytest.raises(ConfigError, match=message) as err:
        apply_overrides(cfg, override)
    assert "\n" not in str(err.value)


def test_unknown_preset_lists_the_available_ones():
    with pytest.raises(ConfigError, match="unknown preset 'seed-z'; available presets: .*seed-c"):
        load_preset("seed-z")


def test_unknown_task_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match="unknown task 'dance'"):
        from_dict({"task": "dance"})
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\ncell = 'lstm'")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config_file(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config_file(tmp_path / "missing.toml")
