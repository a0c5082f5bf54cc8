"""Character language model: text reading, TBPTT layout, training, resume, sampling, errors."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import rnnlab
from rnnlab import api, cli
from rnnlab.config import ModelConfig, load_preset
from rnnlab.data.text import StreamLayout, Vocab, read_text, resolve_text_path, split_text
from rnnlab.errors import CheckpointError, ConfigError, DataError
from rnnlab.inference.sampling import next_char, sample
from rnnlab.models.charlm import CharLM, repackage
from rnnlab.tasks.charlm import CharLMTask
from tests.conftest import (
    DATA,
    assert_same_parameters,
    one_line_error,
    shakespeare_slice,
    train_straight_and_resumed,
)

SHAKESPEARE = DATA / "tinyshakespeare" / "input.txt"

# A small, quick model; the data path is set per test to a slice of tiny Shakespeare.
SMALL = {
    "train.iters": 60,
    "train.eval_every": 30,
    "train.batch_size": 16,
    "data.seq_len": 32,
    "data.eval_tokens": 2000,
    "model.hidden": 64,
    "threads": 1,
}


@pytest.fixture(scope="module")
def text_file(tmp_path_factory) -> Path:
    return shakespeare_slice(tmp_path_factory, 60_000)


def small(text_file: Path, **extra) -> dict:
    return {**SMALL, "data.path": str(text_file), **extra}


@pytest.fixture(scope="module")
def trained(text_file, tmp_path_factory) -> Path:
    """A checkpoint of a short charlm run, shared by the sampling tests."""
    runs = tmp_path_factory.mktemp("runs")
    result = api.train("charlm-tiny", overrides=small(text_file), runs_dir=runs, verbose=False)
    return result.checkpoint


# --------------------------------------------------------------------------- text, vocabulary


def test_vocab_is_sorted_set_and_round_trips():
    vocab = Vocab.from_text("hello world!")
    assert vocab.chars == " !dehlorw"
    ids = vocab.encode("hello")
    assert ids.dtype == torch.long and vocab.decode(ids) == "hello"
    assert vocab.unknown("hex?x") == ["x", "?"]
    assert vocab.encode("hxe", skip_unknown=True).tolist() == vocab.encode("he").tolist()


def test_split_keeps_last_fraction_for_validation():
    train, val = split_text("abcdefghij", 0.3)
    assert (train, val) == ("abcdefg", "hij")


def test_read_text_and_relative_paths(tmp_path):
    (tmp_path / "t.txt").write_bytes("\ufeffçà va\n".encode())
    assert read_text(resolve_text_path("t.txt", tmp_path)) == "çà va\n"  # BOM dropped
    assert resolve_text_path("/abs/file.txt", tmp_path) == Path("/abs/file.txt")


# --------------------------------------------------------------------------- TBPTT layout


def test_streams_are_contiguous_and_targets_shifted():
    ids = torch.arange(1000)
    layout = StreamLayout(ids, streams=4, seq_len=10)
    assert layout.stream_len == 247 and layout.chunks == 24
    xs, ys = zip(*(layout.batch(i) for i in range(layout.chunks)))
    x, y = torch.cat(xs, dim=1), torch.cat(ys, dim=1)
    for s in range(4):  # every row continues where the previous batch stopped
        start = s * layout.stream_len
        assert x[s].tolist() == list(range(start, start + 240))
    assert torch.equal(y, x + 1)
    # The next pass repeats the layout, shifted by an offset in [0, seq_len)
    x0, _ = layout.batch(layout.chunks)
    assert 0 <= int(x0[0, 0]) < 10
    assert torch.equal(x0 - x0[0, 0], layout.batch(0)[0])
    assert torch.equal(layout.batch(30)[0], layout.batch(30)[0])  # pure function


def test_hidden_is_carried_detached_and_reset_each_pass(text_file):
    cfg = api.make_config("charlm-tiny", small(text_file))
    task = CharLMTask(cfg, None, torch.device("cpu"))
    model = task.build_model()
    seen = []
    original = model.forward

    def spy(x, hidden=None):
        seen.append(hidden)
        return original(x, hidden)

    model.forward = spy
    loss0, _ = task.loss(model, task.batch(0), 0)
    assert all(t.grad_fn is None and not t.requires_grad for t in task._hidden)
    loss0.backward()
    loss1, _ = task.loss(model, task.batch(1), 1)
    loss1.backward()  # would fail ("backward through the graph a second time") if not detached
    assert seen[0] is None and seen[1] is not None
    assert all(t.grad_fn is None for t in seen[1])
    chunks = task.layout.chunks
    task._hidden_for = chunks  # pretend we reached the end of the pass
    task.loss(model, task.batch(chunks), chunks)
    assert seen[-1] is None  # a new pass starts from zeros
    assert repackage(None) is None


# --------------------------------------------------------------------------- training


def test_short_training_lowers_the_loss(text_file, tmp_path):
    result = api.train("charlm-tiny", overrides=small(text_file), runs_dir=tmp_path, verbose=False)
    first, last = result.history[0], result.history[-1]
    vocab = len(torch.load(result.checkpoint, weights_only=True)["task_state"]["vocab"])
    assert last["val_loss"] < first["val_loss"] < math.log(vocab) + 0.1
    assert last["val_loss"] < 3.0
    assert last["val_bpc"] == pytest.approx(last["val_loss"] / math.log(2))
    assert result.best["iteration"] == 60


def test_progress_shows_validation_loss_and_characters_per_second(text_file, tmp_path, capsys):
    overrides = small(text_file, **{"train.iters": 30})
    api.train("charlm-tiny", overrides=overrides, runs_dir=tmp_path)
    out = capsys.readouterr().out
    assert "Iteration: 30/30. Loss:" in out and "nats/char" in out and "bits/char" in out
    assert " chars/s | " in out and "samples/s" not in out.split("Done in")[0]
    assert "--- sample at iteration 30" in out


def test_resume_is_exact(text_file, tmp_path):
    # dropout exercises the RNG; eval (with its sample) at 50 must not disturb it
    over = small(text_file, **{"train.eval_every": 50, "model.dropout": 0.2})
    straight, _, resumed = train_straight_and_resumed(
        "charlm-tiny", over, total=100, stop=50, runs_dir=tmp_path
    )
    assert_same_parameters(straight.checkpoint, resumed.checkpoint)
    assert resumed.metrics["val_loss"] == straight.metrics["val_loss"]


def test_gru_and_one_hot_inputs(text_file, tmp_path):
    over = small(text_file, **{"model.cell": "gru", "model.embedding_dim": 0, "train.iters": 4})
    result = api.train("charlm-tiny", overrides=over, runs_dir=tmp_path, verbose=False)
    assert math.isfinite(result.metrics["val_loss"])
    model = CharLM(10, ModelConfig(cell="gru", hidden=8, embedding_dim=0))
    assert model.embedding is None
    logits, h = model(torch.randint(0, 10, (3, 5)))
    assert logits.shape == (3, 5, 10) and h.shape == (1, 3, 8)


def test_scratch_cells(text_file, tmp_path):
    pytest.importorskip("rnnlab.models.cells")
    over = small(text_file, **{"model.impl": "scratch", "train.iters": 4, "train.eval_every": 4})
    result = api.train("charlm-tiny", overrides=over, runs_dir=tmp_path, verbose=False)
    assert math.isfinite(result.metrics["val_loss"])


# --------------------------------------------------------------------------- sampling


def test_sample_is_reproducible_with_a_seed(trained):
    a = sample(trained, prime="ROMEO:", length=80, seed=7)
    b = sample(trained, prime="ROMEO:", length=80, seed=7)
    c = sample(trained, prime="ROMEO:", length=80, seed=8)
    assert a == b and a != c
    assert a.startswith("ROMEO:") and len(a) == len("ROMEO:") + 80


def test_temperature_zero_is_greedy(trained):
    a = sample(trained, prime="KING", length=40, temperature=0, seed=1)
    b = sample(trained, prime="KING", length=40, temperature=0, seed=2)
    assert a == b
    assert sample(trained, prime="KING", length=40, temperature=1e-9, seed=3) == a
    assert sample(trained, prime="KING", length=40, top_k=1, temperature=1.5, seed=4) == a


def test_top_k_draws_only_the_k_likeliest():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.9, -1.0]])
    g = torch.Generator().manual_seed(0)
    draws = {int(next_char(logits, 5.0, top_k=2, generator=g)) for _ in range(200)}
    assert draws == {1, 3}
    assert int(next_char(logits, 0.0)) == 1


def test_sample_command_prints_text(trained, capsys):
    argv = ["sample", str(trained), "--prime", "ROMEO:", "--length", "30", "--seed", "5"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert out.rstrip("\n") == sample(trained, prime="ROMEO:", length=30, seed=5)


# --------------------------------------------------------------------------- bad input


def train_error(capsys, tmp_path, *options: str) -> str:
    """The one-line error of `rnnlab train --preset charlm-tiny OPTIONS` into tmp_path/runs."""
    argv = ["train", "--preset", "charlm-tiny", *options, "--runs-dir", str(tmp_path / "runs")]
    return one_line_error(capsys, argv)


def test_empty_text_file(tmp_path, capsys):
    (tmp_path / "empty.txt").write_text("")
    err = train_error(capsys, tmp_path, "--data-dir", str(tmp_path), "--set", "data.path=empty.txt")
    assert "empty.txt is empty" in err


def test_non_utf8_text_file_names_the_offset(tmp_path, capsys):
    (tmp_path / "latin1.txt").write_bytes(b"caf" + "é au lait".encode("latin-1"))
    with pytest.raises(DataError, match=r"invalid byte 0xe9 at byte offset 3"):
        read_text(tmp_path / "latin1.txt")
    err = train_error(capsys, tmp_path, "--set", f"data.path={tmp_path / 'latin1.txt'}")
    assert "not UTF-8" in err and "offset 3" in err


def test_missing_text_file_suggests_data_dir(tmp_path, capsys):
    err = train_error(capsys, tmp_path, "--data-dir", str(tmp_path))
    assert "does not exist" in err and "--data-dir" in err
    assert "tinyshakespeare/input.txt" in err


def test_prime_with_unknown_characters(trained, capsys):
    with pytest.raises(ConfigError, match="never saw: '€', 'ж'"):
        sample(trained, prime="ROMEO €ж€", length=5)
    err = one_line_error(capsys, ["sample", str(trained), "--prime", "€"])
    assert "'€'" in err


def test_data_path_that_is_a_folder_or_absolute_and_missing(tmp_path, capsys):
    err = train_error(capsys, tmp_path, "--set", f"data.path={tmp_path}")
    assert f"data.path {tmp_path} is a folder; give the text file in it" in err
    err = train_error(capsys, tmp_path, "--set", f"data.path={tmp_path / 'no.txt'}")
    assert "does not exist; check data.path" in err and "absolute" not in err


def test_sample_prints_as_it_draws_with_one_thread(trained, capsys, monkeypatch):
    import torch

    from rnnlab.cli import main

    threads = []
    monkeypatch.setattr(torch, "set_num_threads", threads.append)
    assert main(["sample", str(trained), "--prime", "to", "--length", "40", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert out == sample(trained, prime="to", length=40, seed=3) + "\n"
    assert threads == [1]
    pieces = list(rnnlab.sample_pieces(trained, prime="to", length=5, seed=3))
    assert pieces[0] == "to" and len(pieces) == 6 and "".join(pieces) == out[:7]
    err = one_line_error(capsys, ["sample", str(trained), "--threads", "0"])
    assert "--threads must be from 1 to" in err


def test_no_checkpoint_named(capsys):
    err = one_line_error(capsys, ["sample", ""])
    assert "no checkpoint given" in err


def test_sample_rejects_a_classify_checkpoint(classify_checkpoint, capsys):
    with pytest.raises(CheckpointError, match="'classify' checkpoint"):
        sample(classify_checkpoint)
    err = one_line_error(capsys, ["sample", str(classify_checkpoint)])
    assert "not a character language model" in err


def test_bidirectional_is_rejected(capsys):
    with pytest.raises(ConfigError, match="bidirectional"):
        api.make_config("charlm-tiny", {"model.bidirectional": True})
    err = one_line_error(capsys, ["train", "--preset", "charlm-tiny", "--bidirectional"])
    assert "bidirectional cannot be used with task charlm" in err


def test_bad_sampling_arguments(trained):
    with pytest.raises(ConfigError, match="temperature"):
        sample(trained, temperature=-1)
    with pytest.raises(ConfigError, match="top-k"):
        sample(trained, top_k=0)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="temperature must be 0 .greedy. or positive"):
            sample(trained, temperature=bad)
    for length in (-5, 2.5, "5", 10**8):
        with pytest.raises(ConfigError, match="length must be a whole number of characters"):
            sample(trained, length=length)
    with pytest.raises(ConfigError, match="temperature must be a number, got '0.8'"):
        sample(trained, temperature="0.8")
    with pytest.raises(ConfigError, match="top-k must be a positive integer, got 2.5"):
        sample(trained, top_k=2.5)
    with pytest.raises(ConfigError, match="seed must be a whole number, got 1.5"):
        sample(trained, seed=1.5)
    with pytest.raises(ConfigError, match="the prime must be a non-empty string"):
        sample(trained, prime="")
    for seed in (-1, 10**20):
        with pytest.raises(ConfigError, match=r"seed must be between 0 and 2\*\*63-1"):
            sample(trained, seed=seed)


# --------------------------------------------------------------------------- full preset


def test_presets_load():
    cfg = load_preset("charlm-shakespeare")
    assert cfg.task == "charlm" and cfg.data.path == "tinyshakespeare/input.txt"
    assert cfg.train.clip_grad > 0


@pytest.mark.slow  # measured: see docs/charlm.md (about 9 min on two quiet cores)
def test_full_shakespeare_preset(tmp_path):
    if not SHAKESPEARE.is_file():
        pytest.skip("tiny Shakespeare not found")
    result = api.train(
        "charlm-shakespeare", data_dir=DATA, runs_dir=tmp_path, overrides={"threads": 2}
    )
    # eval_tokens = 0: the figure is the whole validation text, not a slice of it
    assert result.config.data.eval_tokens == 0
    assert result.metrics["val_loss"] <= 1.50


def test_text_too_short_for_the_layout(tmp_path, capsys):
    (tmp_path / "short.txt").write_text("to be or not to be\n" * 5)
    err = train_error(capsys, tmp_path, "--set", f"data.path={tmp_path / 'short.txt'}")
    assert "too short" in err and "train.batch_size" in err
