"""Config audit, second pass: NumPy numbers, near-miss field names, `preset =` in a config,
odd config files (byte-order mark, pipe, name too long), text fields that are not UTF-8,
step-schedule settings, flag values taken as given and the dry run of an unnamed config.
All at the config level: nothing is trained."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from rnnlab import api
from rnnlab.cli import build_parser, collect_overrides, main
from rnnlab.config import from_dict, load_config_file, to_toml, tomllib
from rnnlab.errors import ConfigError
from tests.conftest import one_line_error


def refused(source, overrides=None) -> str:
    with pytest.raises(ConfigError) as info:
        api.make_config(source, overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


# ------------------------------------------------------------ NumPy numbers from Python


def test_numpy_numbers_are_the_numbers_they_hold():
    cfg = api.make_config(
        "seed-c",
        {
            "model.hidden": np.int64(8),
            "train.iters": np.float64(20.0),
            "train.lr": np.float32(0.5),
            "model.bidirectional": np.True_,
        },
    )
    assert (cfg.model.hidden, cfg.train.iters, cfg.train.lr) == (8, 20, 0.5)
    assert type(cfg.model.hidden) is int and type(cfg.train.iters) is int
    assert type(cfg.train.lr) is float and cfg.model.bidirectional is True
    tomllib.loads(to_toml(cfg))  # recorded as plain TOML numbers
    assert "must be an integer, got np.True_" in refused("seed-c", {"model.hidden": np.True_})
    assert "must be an integer" in refused("seed-c", {"model.hidden": np.float64(8.5)})


# ------------------------------------------------------------ near misses


@pytest.mark.parametrize(
    ("override", "text"),
    [
        ("hidden=3", "unknown setting 'hidden' (did you mean model.hidden?)"),
        ("train.hidden=3", "unknown field 'hidden' in [train] (did you mean model.hidden?)"),
        ("model.hiden=3", "unknown field 'hiden' in [model] (did you mean model.hidden?)"),
        ("modle.hidden=3", "unknown setting 'modle.hidden' (did you mean model.hidden?)"),
        ("itres=3", "(did you mean train.iters?)"),
        ("seeds=3", "(did you mean seed?)"),
    ],
)
def test_unknown_override_names_the_near_miss(override, text):
    assert text in refused("seed-c", [override])


def test_an_unknown_field_with_no_near_miss_lists_the_valid_ones():
    assert "unknown field 'nope' in [train]; valid fields: iters" in refused(
        "seed-c", ["train.nope=1"]
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hidden = 8\n", "unknown top-level setting 'hidden' (did you mean hidden under [model]?)"),
        ("[modle]\nhidden = 8\n", "unknown top-level setting 'modle' (did you mean [model]?)"),
        ("[model]\nhiden = 8\n", "unknown field 'hiden' in [model] (did you mean hidden?)"),
        ("[train]\nhidden = 8\n", "(did you mean hidden under [model]?)"),
        ("[model]\nmodel.layers = 2\n", "(write layers = 2 under [model], not model.layers = 2"),
        ("[train]\nmodel.hidden = 3\n", "(write hidden = 3 under [model], not model.hidden = 3"),
    ],
)
def test_unknown_field_in_a_file_names_the_near_miss(tmp_path, text, message):
    path = tmp_path / "mine.toml"
    path.write_text('task = "classify"\n' + text)
    assert message in refused(path)


# ------------------------------------------------------------ preset = ... in a config


def test_preset_key_in_a_config_is_refused_not_ignored(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('preset = "seed-c"\n[train]\nlr = 0.01\n')
    message = refused(path)  # it trained an LSTM with default settings, not seed-c's RNN
    assert "a config does not build on a preset (preset = 'seed-c')" in message
    assert "rnnlab train --preset seed-c --dry-run" in message
    with pytest.raises(ConfigError, match="does not build on a preset"):
        from_dict({"preset": "seed-c"})


# ------------------------------------------------------------ odd config files


def test_config_file_with_a_byte_order_mark_loads(tmp_path):
    path = tmp_path / "notepad.toml"
    path.write_bytes(b'\xef\xbb\xbftask = "classify"\n[model]\nhidden = 7\n')
    assert load_config_file(path).model.hidden == 7


@pytest.mark.skipif(not Path("/dev/fd").is_dir(), reason="no /dev/fd")
def test_config_file_from_a_pipe_loads():
    """bash's --config <(...) names a pipe, which is no regular file but exists."""
    read, write = os.pipe()
    try:
        os.write(write, b'task = "classify"\n[model]\nhidden = 9\n')
        os.close(write)
        assert api.make_config(Path(f"/dev/fd/{read}")).model.hidden == 9
    finally:
        os.close(read)


@pytest.mark.parametrize("source", ["x" * 5000, "x" * 5000 + ".toml", Path("x" * 5000)])
def test_config_name_too_long_is_one_line(source):
    assert "(File name too long)" in refused(source)


def test_cli_config_name_too_long_is_one_line(capsys):
    err = one_line_error(capsys, ["train", "--config", "y" * 5000, "--dry-run"])
    assert "cannot read config file" in err


# ------------------------------------------------------------ text that is not UTF-8


def test_text_field_that_is_not_utf8_is_refused_before_the_run():
    # a file name that is not UTF-8, as Python reads it from the command line
    message = refused("charlm-tiny", {"data.path": "\udce9.txt"})
    assert "data.path '\\udce9.txt' is not UTF-8 text (byte 0xe9 at position 0)" in message
    assert "not UTF-8 text (U+D800" in refused("seed-c", {"data.dataset": "\ud800"})


# ------------------------------------------------------------ step-schedule settings


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"train.lr_gamma": -5}, "train.lr_gamma must be in (0, 1]"),
        ({"train.lr_gamma": 0}, "train.lr_gamma must be in (0, 1]"),
        ({"train.lr_gamma": 2, "train.schedule": "cosine"}, "train.lr_gamma must be in (0, 1]"),
        ({"train.lr_step": 0}, "train.lr_step must be a positive integer"),
        ({"train.lr_step": -5, "train.schedule": "step"}, "train.lr_step must be a positive"),
    ],
)
def test_schedule_settings_no_run_could_use_are_refused_whatever_the_schedule(override, message):
    assert message in refused("seed-c", override)


# ------------------------------------------------------------ flags taken as given


@pytest.mark.parametrize("name", ['"x"', "'a' 'b'", " sp ", "q'"])
def test_a_flag_value_is_taken_as_given(name):
    """A flag's value is already read: --name '"x"' names the run "x" with its quotes (it
    lost them), and --name "'a' 'b'" was refused as no one TOML string."""
    args = build_parser().parse_args(["train", "--preset", "seed-c", "--name", name])
    assert api.make_config("seed-c", collect_overrides(args)).name == name
    # --set still reads a quoted value as a TOML string
    args = build_parser().parse_args(["train", "--preset", "seed-c", "--set", 'name="x"'])
    assert api.make_config("seed-c", collect_overrides(args)).name == "x"


def test_train_device_argument_keeps_the_other_values_as_given(monkeypatch):
    seen = {}

    def stop(config, overrides, resume):
        seen["cfg"] = api.make_config(config, overrides)
        raise ConfigError("stop")

    monkeypatch.setattr(api, "_config_and_state", stop)
    with pytest.raises(ConfigError, match="stop"):
        api.train("seed-c", overrides={"name": "'q'", "model.hidden": 8}, device="cpu")
    cfg = seen["cfg"]
    assert (cfg.name, cfg.model.hidden, cfg.device) == ("'q'", 8, "cpu")


# ------------------------------------------------------------ dry run of an unnamed config


def test_dry_run_names_an_unnamed_config_after_its_task(tmp_path, capsys):
    path = tmp_path / "x.toml"
    path.write_text('task = "hihell"\nname = ""\n[train]\nbatch_size = 1\n')
    assert main(["train", "--config", str(path), "--dry-run"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("# hihell: ")  # was "# : ..."


# ------------------------------------------------------------ an empty preset name


@pytest.mark.parametrize("source", ["", "  "])
def test_empty_preset_name_is_refused_as_empty(source, capsys):
    """An empty name as a path is the current folder: it was refused as " is a folder"."""
    assert refused(source) == (
        f"config is empty ({source!r}); give a preset name (rnnlab presets lists them) or a "
        "TOML file path"
    )
    err = one_line_error(capsys, ["train", "--preset", source, "--dry-run"])
    assert "config is empty" in err


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({1: 2}, "unknown top-level setting '1'"),
        ({1: 2, "x": 3}, "unknown top-level setting '1'"),  # was a TypeError from sorting
        ({"model": {None: 2, "x": 1}}, "unknown field 'None' in [model]"),
    ],
)
def test_a_dict_with_keys_that_are_not_strings_is_refused_in_one_line(values, message):
    assert message in refused(values)
