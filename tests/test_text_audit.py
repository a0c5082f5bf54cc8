"""Audit of the text tasks (tagger, character language model): training metrics, the `tag`
and `sample` commands with odd input."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rnnlab import api
from rnnlab.errors import TrainingInterrupted
from rnnlab.tasks.tagger import IGNORE, TaggerTask
from tests.conftest import DATA, ctrl_c_at_batch, shakespeare_slice

EWT = DATA / "ud_english_ewt"
WINDOW = {"train.iters": 8, "train.eval_every": 4}


@pytest.fixture(scope="module")
def ewt() -> Path:
    if not (EWT / "en_ewt-ud-train.conllu").is_file():
        pytest.skip(f"UD English EWT not found at {EWT}")
    return DATA


def _record_batches(monkeypatch) -> list[tuple[int, int, float]]:
    """(correct tokens, tokens, batch accuracy) of every training batch, as trained."""
    seen: list[tuple[int, int, float]] = []
    original = TaggerTask.loss

    def loss(self, model, batch, iteration):
        value, extras = original(self, model, batch, iteration)
        tokens = int((batch[-1] != IGNORE).sum())
        acc = float(extras["acc"])
        seen.append((round(acc * tokens / 100), tokens, acc))
        return value, extras

    monkeypatch.setattr(TaggerTask, "loss", loss)
    return seen


# --------------------------------------------------------------------------- train_acc


def test_train_acc_counts_tokens_over_the_window(ewt, tmp_path, monkeypatch):
    """train_acc was the mean of per-batch accuracies: a batch of 5 tokens weighed as much
    as one of 500. It is correct tokens / tokens over the evaluation window, as dev_acc."""
    seen = _record_batches(monkeypatch)
    result = api.train("pos-tiny", overrides=WINDOW, data_dir=ewt, runs_dir=tmp_path, verbose=False)
    assert [h["iteration"] for h in result.history] == [4, 8]
    for row, window in zip(result.history, (seen[:4], seen[4:])):
        right, tokens = sum(w[0] for w in window), sum(w[1] for w in window)
        assert len({w[1] for w in window}) > 1  # batches of unequal size: the means differ
        assert row["train_acc"] == pytest.approx(100 * right / tokens, rel=1e-9)
        batch_mean = sum(w[2] for w in window) / len(window)
        assert row["train_acc"] != pytest.approx(batch_mean, rel=1e-9)


def test_train_acc_survives_ctrl_c_between_evaluations(ewt, tmp_path, monkeypatch):
    """A run stopped mid-window keeps the window's token counts in last.pt, so the resumed
    run logs the train_acc of a run that never stopped."""
    straight = api.train(
        "pos-tiny", overrides=WINDOW, data_dir=ewt, runs_dir=tmp_path / "a", verbose=False
    )
    original = ctrl_c_at_batch(monkeypatch, TaggerTask, 5)  # the 6th iteration still finishes
    with pytest.raises(TrainingInterrupted, match="interrupted at iteration 6/8"):
        api.train(
            "pos-tiny", overrides=WINDOW, data_dir=ewt, runs_dir=tmp_path / "b", verbose=False
        )
    monkeypatch.setattr(TaggerTask, "batch", original)
    (run,) = api.runs(tmp_path / "b")
    saved = torch.load(run["checkpoint"], weights_only=True)["running"]
    assert saved["extras_weight"]["acc"] > 2  # tokens, not the 2 batches of the window
    # a checkpoint from before the weights summed per-batch accuracies: each weighs 1
    legacy = torch.load(run["checkpoint"], weights_only=True)
    legacy["running"] = {"loss_sum": 4.0, "loss_count": 2, "extras_sum": {"acc": 100.0}}
    torch.save(legacy, tmp_path / "legacy.pt")
    old = api.train(
        resume=tmp_path / "legacy.pt", data_dir=ewt, runs_dir=tmp_path / "c", verbose=False
    )
    assert 0 < old.history[-1]["train_acc"] < 100
    resumed = api.train(
        resume=run["checkpoint"], data_dir=ewt, runs_dir=tmp_path / "b", verbose=False
    )
    for a, b in zip(straight.history, resumed.history):
        assert a["train_acc"] == pytest.approx(b["train_acc"], rel=1e-9)
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-9)


# --------------------------------------------------------------------------- charlm resume

LM = {
    "train.iters": 4,
    "train.eval_every": 4,
    "data.seq_len": 16,
    "data.eval_tokens": 200,
    "model.hidden": 16,
}


@pytest.fixture(scope="module")
def text_file(tmp_path_factory) -> Path:
    return shakespeare_slice(tmp_path_factory, 20_000)


@pytest.mark.parametrize("change", [{"train.batch_size": 8}, {"data.seq_len": 8}])
def test_charlm_resume_with_another_layout_starts_from_zeros(text_file, tmp_path, change):
    """The carried hidden state of 16 streams was fed to a batch of 8 (unexpected
    RuntimeError: Expected hidden[0] size (1, 8, 16)), or, with another seq_len, carried into
    other text positions than it had read."""
    from rnnlab.tasks.charlm import CharLMTask

    over = {**LM, "data.path": str(text_file)}
    first = api.train("charlm-tiny", overrides=over, runs_dir=tmp_path, verbose=False)
    state = torch.load(first.checkpoint, weights_only=True)["task_state"]
    assert state["hidden"] is not None and state["hidden_for"] == 4
    config = api.load(first.checkpoint).config
    resumed = api.train(
        resume=first.checkpoint,
        overrides={"train.iters": 8, **change},
        runs_dir=tmp_path,
        verbose=False,
    )
    assert resumed.iteration == 8
    # the same layout keeps the state; an old checkpoint (no layout saved) is judged by shape
    same = CharLMTask(config, None, torch.device("cpu"), state)
    assert same._hidden is not None
    old = {k: v for k, v in state.items() if k != "layout"}
    assert CharLMTask(config, None, torch.device("cpu"), old)._hidden is not None
    config.data.seq_len = 8  # the same streams, read from other positions
    assert CharLMTask(config, None, torch.device("cpu"), state)._hidden is None
    config.train.batch_size = 8
    assert CharLMTask(config, None, torch.device("cpu"), old)._hidden is None


# --------------------------------------------------------------------------- output encoding


@pytest.fixture(scope="module")
def tagger_ckpt(ewt, tmp_path_factory) -> Path:
    runs = tmp_path_factory.mktemp("runs")
    over = {"train.iters": 2, "train.eval_every": 2}
    return api.train(
        "pos-tiny", overrides=over, data_dir=ewt, runs_dir=runs, verbose=False
    ).checkpoint


@pytest.fixture(scope="module")
def unicode_lm(tmp_path_factory) -> Path:
    """A charlm checkpoint whose vocabulary holds characters beyond ASCII and Latin-1."""
    folder = tmp_path_factory.mktemp("unicode")
    text = folder / "text.txt"
    text.write_text("naïve café 東京 😀\n" * 400, encoding="utf-8")
    over = {**LM, "data.path": str(text), "train.iters": 2, "train.batch_size": 4}
    return api.train(
        "charlm-tiny", overrides=over, runs_dir=folder / "runs", verbose=False
    ).checkpoint


def _ascii_stdout(monkeypatch) -> None:
    import io
    import sys

    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO(), encoding="ascii"))


@pytest.mark.parametrize("json", [[], ["--json"]])
def test_tag_on_an_ascii_terminal_is_one_clear_line(tagger_ckpt, monkeypatch, capsys, json):
    """Was `unexpected UnicodeEncodeError: 'ascii' codec can't encode ...`."""
    from tests.conftest import one_line_error

    _ascii_stdout(monkeypatch)
    argv = ["tag", str(tagger_ckpt), "東京 is big", *json]
    if json:  # JSON escapes what it cannot write: nothing to refuse
        from rnnlab import cli

        assert cli.main(argv) == 0
        return
    err = one_line_error(capsys, argv)
    assert "standard output is ascii" in err and "PYTHONIOENCODING=utf-8" in err


def test_sample_on_an_ascii_terminal_is_one_clear_line(unicode_lm, monkeypatch, capsys):
    from tests.conftest import one_line_error

    _ascii_stdout(monkeypatch)
    argv = ["sample", str(unicode_lm), "--prime", "東京", "--length", "5", "--seed", "1"]
    err = one_line_error(capsys, argv)
    assert "standard output is ascii" in err and "PYTHONIOENCODING=utf-8" in err


# --------------------------------------------------------------------------- sampling


def test_top_k_keeps_exactly_k_characters_when_logits_tie():
    """--top-k 1 with three characters tied for first drew from all three."""
    from rnnlab.inference.sampling import next_char

    logits = torch.tensor([[2.0, 2.0, 2.0, 0.0]]).repeat(300, 1)
    g = torch.Generator().manual_seed(0)
    assert len(set(next_char(logits, 1.0, top_k=1, generator=g).tolist())) == 1
    drawn = set(next_char(logits, 1.0, top_k=2, generator=g).tolist())
    assert len(drawn) == 2 and 3 not in drawn
