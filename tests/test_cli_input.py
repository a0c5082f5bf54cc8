"""Bad command-line input: argparse errors, conflicting flags, odd config files and values,
run names, --json, --device, download names. Each is one `rnnlab: error: ...` line, exit
code 1, and nothing written."""

from __future__ import annotations

import json

import pytest
import torch

import rnnlab
from rnnlab import api
from rnnlab.cli import build_parser, collect_overrides, main
from rnnlab.errors import ConfigError, DataError
from tests.conftest import QUICK, one_line_error

QUICK_FLAGS = [f"--set={k}={v}" for k, v in QUICK.items() if k != "train.iters"]


def nothing_written(folder) -> bool:
    return not folder.exists() or not any(folder.iterdir())


# --------------------------------------------------------------------------- 1. argparse


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["train", "--preset", "seed-c", "--iters", "abc"],
            "argument --iters: train.iters must be an integer, got 'abc'; see rnnlab train --help",
        ),
        (
            ["train", "--preset", "seed-c", "--itres", "20"],
            "unrecognized arguments: --itres 20 (did you mean --iters?); see rnnlab train --help",
        ),
        (["trian"], "invalid choice: 'trian'"),
        (["runs", "--limit", "abc"], "argument --limit: the value must be an integer, got 'abc'"),
        (["predict", "x.pt", "--index", "x"], "see rnnlab predict --help"),
        (["download"], "the following arguments are required: datasets"),
        # subcommands registered in rnnlab.commands get the same treatment
        (["compare", "--preset", "seed-c", "--jobs", "x"], "see rnnlab compare --help"),
        (["sweep", "--bogus"], "unrecognized arguments: --bogus; see rnnlab sweep --help"),
        (["tag"], "the following arguments are required: checkpoint"),
        (["sample", "x.pt", "--lenght", "5"], "(did you mean --length?)"),
    ],
)
def test_argparse_errors_are_one_line_and_exit_1(capsys, tmp_path, argv, message):
    err = one_line_error(capsys, [*argv, "--runs-dir", str(tmp_path / "runs")])
    assert message in err
    assert "see rnnlab" in err and "usage:" not in err
    assert nothing_written(tmp_path / "runs")


def test_bare_rnnlab_prints_the_help_and_help_still_works(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: rnnlab") and "train" in out
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--help"])
    assert exit_.value.code == 0
    assert "--iters" in capsys.readouterr().out


# --------------------------------------------------------------------------- 2. int flags


def _overrides(*argv: str) -> list[str]:
    return collect_overrides(build_parser().parse_args(["train", "--preset", "seed-c", *argv]))


def test_integer_flags_read_values_as_set_does():
    flag = api.make_config("seed-c", _overrides("--iters", "1e4", "--hidden", "64.0"))
    via_set = api.make_config("seed-c", ["train.iters=1e4", "model.hidden=64.0"])
    assert flag.train.iters == via_set.train.iters == 10000
    assert flag.model.hidden == via_set.model.hidden == 64
    with pytest.raises(ConfigError, match="train.iters must be an integer, got '1.5'"):
        api.make_config("seed-c", ["train.iters=1.5"])


def test_a_fractional_iters_flag_is_refused_like_set(capsys):
    err = one_line_error(capsys, ["train", "--preset", "seed-c", "--iters", "1.5"])
    assert "train.iters must be an integer, got '1.5'" in err


# --------------------------------------------------------------------------- 3. conflicts


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--preset", "seed-c", "--epochs", "0.004", "--iters", "20"],
            "give --iters or --epochs, not both (--iters 20, --epochs 0.004)",
        ),
        (
            ["--preset", "seed-c", "--epochs", "1", "--set", "train.iters=20"],
            "give --iters or --epochs, not both",
        ),
        (
            ["--preset", "seed-c", "--lr", "0.1", "--set", "train.lr=0.5"],
            "train.lr is given twice: --lr 0.1 and --set train.lr=0.5; give it once",
        ),
        (
            ["--preset", "seed-c", "--set", "model.hidden=8", "--set", "model.hidden=9"],
            "model.hidden is given twice",
        ),
        (
            ["--config", "good.toml", "--preset", "seed-c"],
            "give --preset or --config, not both",
        ),
    ],
)
def test_conflicting_flags_are_refused(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "good.toml").write_text('task = "classify"\n')
    err = one_line_error(capsys, ["train", *argv, "--runs-dir", "runs"])
    assert message in err
    assert nothing_written(tmp_path / "runs")


def test_the_same_value_twice_is_no_conflict():
    assert _overrides("--iters", "20", "--set", "train.iters=20")[-1] == "train.iters=20"


def test_compare_refuses_preset_and_config_together(capsys, tmp_path):
    (tmp_path / "good.toml").write_text('task = "classify"\n')
    argv = ["compare", "--config", str(tmp_path / "good.toml"), "--preset", "seed-c"]
    err = one_line_error(capsys, [*argv, "--runs-dir", str(tmp_path / "runs")])
    assert "give --preset or --config, not both" in err


def test_api_train_refuses_conflicts_before_anything_is_written(tmp_path):
    runs = tmp_path / "runs"
    with pytest.raises(ConfigError, match="resume takes the config from the checkpoint"):
        rnnlab.train("seed-a", resume=tmp_path / "last.pt", runs_dir=runs)
    with pytest.raises(ConfigError, match="give train.iters or train.epochs, not both"):
        rnnlab.train("seed-a", overrides={"train.iters": 20, "train.epochs": 1.0}, runs_dir=runs)
    with pytest.raises(ConfigError, match="train.lr is given twice"):
        rnnlab.train("seed-a", overrides=["train.lr=0.1", "train.lr=0.5"], runs_dir=runs)
    assert nothing_written(runs)


# --------------------------------------------------------------------------- 4. files, values


def test_a_binary_file_as_config_is_one_line(capsys, tmp_path):
    checkpoint = tmp_path / "last.pt"
    checkpoint.write_bytes(b"PK\x03\x04\x80\x81\xff" * 50)
    as_toml = tmp_path / "bin.toml"
    as_toml.write_bytes(checkpoint.read_bytes())
    for argv in (["train", "--config", str(checkpoint)], ["inspect", str(as_toml)]):
        err = one_line_error(capsys, argv)
        assert "is not a TOML text file" in err and "give a TOML config" in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model = 5\n", "model must be a table of settings"),
        ("data = [1, 2]\n", "data must be a table of settings"),
        ("seed = 1.5\n", "error: seed must be an integer, got 1.5"),
        ("epochs = 3\n", "unknown top-level setting 'epochs'"),
        ("[train]\nepochs = 1e300\n", "train.epochs must be at most 1,000,000"),
    ],
)
def test_bad_toml_values_are_one_line(capsys, tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    err = one_line_error(capsys, ["train", "--config", str(path), "--runs-dir", str(tmp_path)])
    assert message in err and "run.seed" not in err
    assert not (tmp_path / "rnnlab.db").exists()


def test_a_folder_named_like_a_config_is_called_a_folder(capsys, tmp_path):
    folder = tmp_path / "somefolder.toml"
    folder.mkdir()
    err = one_line_error(capsys, ["train", "--config", str(folder)])
    assert "is a folder" in err and "does not exist" not in err


@pytest.mark.parametrize(
    "command", [["train"], ["compare"], ["sweep", "--param", "train.lr=0.1,0.2"]]
)
def test_config_is_a_file_by_any_name(capsys, tmp_path, command):
    """--config names a file, so a folder or a missing file is called that, never looked
    up as a preset; and a config file without .toml in its name works."""
    runs = ["--runs-dir", str(tmp_path / "runs"), "--dry-run"]
    err = one_line_error(capsys, [*command, "--config", str(tmp_path), *runs])
    assert "is a folder" in err and "unknown preset" not in err
    err = one_line_error(capsys, [*command, "--config", str(tmp_path / "nothing"), *runs])
    assert "does not exist" in err and "unknown preset" not in err
    plain = tmp_path / "myconf"
    plain.write_text('task = "classify"\n[model]\nhidden = 8\n', encoding="utf-8")
    assert main([*command, "--config", str(plain), *runs]) == 0
    assert "myconf" in capsys.readouterr().out


def test_inspect_a_folder_and_dry_run_save_targets(capsys, tmp_path):
    err = one_line_error(capsys, ["inspect", str(tmp_path)])
    assert f"{tmp_path} is a folder; give a preset name" in err
    err = one_line_error(capsys, ["train", "--preset", "seed-c", "--save", str(tmp_path),
                                  "--dry-run"])  # fmt: skip
    assert f"--save {tmp_path} is a folder" in err


@pytest.mark.parametrize("name", ["../studies/ex2-rnn", "../presets/seed-c", "sub/seed-c"])
def test_preset_names_are_not_paths(capsys, name):
    err = one_line_error(capsys, ["train", "--preset", name])
    assert f"unknown preset '{name}'" in err


@pytest.mark.parametrize(
    ("task", "preset"),
    [("charlm", "charlm"), ("hihell", "hihell"), ("tagger", "pos-"), ("seq2seq", "seq2seq-")],
)
def test_the_task_cannot_be_changed_with_set(capsys, tmp_path, task, preset):
    argv = ["train", "--preset", "seed-c", "--set", f"task={task}", "--runs-dir", str(tmp_path)]
    err = one_line_error(capsys, argv)
    assert f"task={task} cannot be set on a classify config" in err
    assert f"--preset {preset}" in err
    assert nothing_written(tmp_path)


def test_the_same_task_may_be_set_again():
    assert api.make_config("seed-c", {"task": "classify"}).task == "classify"


def test_huge_epochs_are_refused_before_a_run_exists(capsys, tmp_path):
    argv = ["train", "--preset", "seed-c", "--epochs", "1e300", "--runs-dir", str(tmp_path)]
    assert "train.epochs must be at most" in one_line_error(capsys, argv)
    assert nothing_written(tmp_path)


def test_absurd_layer_counts_are_refused_not_built():
    with pytest.raises(ConfigError, match="model.layers must be at most 1000, got 100000000"):
        api.make_config("seed-c", {"model.layers": 100_000_000, "model.hidden": 1})
    assert api.make_config("seed-c", {"model.layers": 1000}).model.layers == 1000


# --------------------------------------------------------------------------- 5. names


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a" * 300, "name is too long: 300 characters"),
        ("é" * 150, "(300 bytes in UTF-8)"),
        ("a\nb", r"contains the control character '\n'"),
        ("red\x1b[31m", r"contains the control character '\x1b'"),
        ("", "name must not be empty"),
        ("  ", "name must not be empty"),
    ],
)
def test_bad_run_names_are_refused_before_anything_is_written(capsys, tmp_path, name, message):
    argv = ["train", "--preset", "seed-c", "--name", name, "--runs-dir", str(tmp_path)]
    assert message in one_line_error(capsys, argv)
    assert nothing_written(tmp_path)
    with pytest.raises(ConfigError, match="name"):
        api.make_config("seed-c", {"name": name})


def test_a_long_name_that_fits_the_folder_is_accepted():
    assert api.make_config("seed-c", {"name": "b" * 200}).name == "b" * 200


# --------------------------------------------------------------------------- 6. --json


def test_train_json_is_pure_json_and_names_the_saved_copy(capsys, data_dir, tmp_path):
    saved = tmp_path / "rnn.pt"
    argv = ["train", "--preset", "seed-c", *QUICK_FLAGS, "--iters", "20", "--threads", "1"]
    argv += ["--data-dir", str(data_dir), "--runs-dir", str(tmp_path / "runs")]
    assert main([*argv, "--json", "--save", str(saved)]) == 0
    result = json.loads(capsys.readouterr().out)  # no progress lines around it
    assert result["saved"] == str(saved) and saved.is_file()
    assert result["status"] == "completed" and result["iteration"] == 20
    assert main([*argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["saved"] is None


# --------------------------------------------------------------------------- 7. --device


@pytest.mark.parametrize(
    "argv",
    [
        ["evaluate", "x.pt", "--device", "tpu"],
        ["predict", "x.pt", "--index", "0", "--device", "tpu"],
        ["sample", "x.pt", "--device", "tpu"],
        ["tag", "x.pt", "a b", "--device", "tpu"],
        ["translate", "x.pt", "1+2", "--device", "tpu"],
        ["evaluate", "x.pt", "--device", "cuda:x"],
    ],
)
def test_unknown_devices_are_one_line_for_every_command(capsys, argv):
    err = one_line_error(capsys, argv)
    assert "unknown device" in err and "choose one of: auto, cpu, cuda, mps" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_index_without_cuda_is_one_line(capsys, classify_checkpoint):
    argv = ["predict", str(classify_checkpoint), "--index", "0", "--device", "cuda:0"]
    assert "device 'cuda:0' was asked for but this machine has no CUDA GPU" in one_line_error(
        capsys, argv
    )


def test_a_cuda_index_past_the_gpus_is_one_line(capsys):
    err = one_line_error(capsys, ["evaluate", "x.pt", "--device", "cuda:99"])
    assert "device 'cuda:99' was asked for but this machine has" in err
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        rnnlab.evaluate("x.pt", device="tpu")


def test_train_takes_cuda_indices_as_a_device_name():
    assert api.make_config("seed-c", {"device": "cuda:1"}).device == "cuda:1"
    with pytest.raises(ConfigError, match="unknown device 'cuda:'"):
        api.make_config("seed-c", {"device": "cuda:"})


# --------------------------------------------------------------------------- 8. download


def test_download_checks_every_name_before_fetching(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("RNNLAB_MIRROR", "http://127.0.0.1:9/")  # never reached
    data = tmp_path / "data"
    err = one_line_error(capsys, ["download", "mnist", "emnist", "--data-dir", str(data)])
    assert "unknown dataset 'emnist'" in err
    assert not data.exists()
    with pytest.raises(ConfigError, match="unknown dataset 'emnist'"):
        rnnlab.download(["mnist", "emnist"], data_dir=data)
    with pytest.raises(DataError, match="name the data sets to download"):
        rnnlab.download([], data_dir=data)
    assert not data.exists()


@pytest.mark.parametrize(
    ("argv", "dest", "value"),
    [
        (["sample", "x.pt", "--length", "1e3"], "length", 1000),
        (["predict", "x.pt", "--top", "2.0"], "top", 2),
        (["predict", "x.pt", "--index", "1e1", "3"], "index", [10, 3]),
        (["compare", "--jobs", "2.0"], "jobs", 2),
        (["runs", "--limit", "1_000"], "limit", 1000),
        (["sweep", "--trials", "1e2"], "trials", 100),
    ],
)
def test_integer_options_read_numbers_as_the_field_flags_do(argv, dest, value):
    # --iters 1e4 was accepted while sample --length 1e3 was refused as "invalid int value"
    from rnnlab.cli import parse_command_line

    assert getattr(parse_command_line(argv), dest) == value


def test_an_integer_option_given_a_fraction_says_so(capsys):
    err = one_line_error(capsys, ["sample", "x.pt", "--length", "2.5"])
    assert "--length" in err and "must be an integer, got '2.5'" in err


def test_a_value_that_starts_with_a_dash_is_shown_how_to_give(capsys):
    # argparse reads --prime -x as a flag without its value; the error now says how to write it
    err = one_line_error(capsys, ["sample", "x.pt", "--prime", "-x"])
    assert "argument --prime: expected one argument" in err and "--prime=VALUE" in err
