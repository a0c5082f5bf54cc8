"""Audit of the encoder-decoder and hihell tasks: each test failed before its fix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnlab import api
from rnnlab.cli import main
from rnnlab.data import synthetic
from rnnlab.errors import ConfigError
from rnnlab.models.seq2seq import SPECIALS
from rnnlab.tasks.hihell import HihellTask
from rnnlab.tasks.seq2seq import Seq2SeqTask

CPU = torch.device("cpu")
TINY = {
    "data.length": 4,
    "data.train_size": 200,
    "data.test_size": 20,
    "model.hidden": 8,
    "model.embedding_dim": 4,
    "train.batch_size": 20,
    "train.iters": 2,
    "train.eval_every": 2,
}


# ------------------------------------------------- resuming with another vocabulary


def test_seq2seq_state_with_other_tokens_is_refused():
    # A reverse checkpoint's model knows the digits only: resuming it as an adder used to end
    # in "unexpected KeyError: '+'" while the run was being announced.
    config = api.make_config("seq2seq-add", {"data.digits": 2})
    digits_only = {"tokens": [*SPECIALS, *"0123456789"]}
    with pytest.raises(ConfigError, match=r"^data.problem = 'add' is written with '0123456789\+'"):
        Seq2SeqTask(config, None, CPU, digits_only)
    # A vocabulary that covers the problem's (add -> reverse, reverse -> sort): accepted.
    config = api.make_config("seq2seq-reverse", {"data.length": 4})
    assert len(Seq2SeqTask(config, None, CPU, {"tokens": [*SPECIALS, *"0123456789+"]}).tokens) == 14
    config = api.make_config("seq2seq-reverse", {"data.problem": "sort"})
    assert Seq2SeqTask(config, None, CPU, {"tokens": [*SPECIALS, *"0123456789"]}).tokens


def test_resume_as_another_problem_is_one_line_error(tmp_path, capsys):
    first = api.train("seq2seq-reverse", overrides=TINY, runs_dir=tmp_path, verbose=False)
    argv = ["train", "--resume", str(first.checkpoint), "--iters", "4"]
    assert main([*argv, "--set", "data.problem=add", "--threads", "1"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "rnnlab: error: data.problem = 'add' is written with '0123456789+', but this "
        "checkpoint's model knows '0123456789'; a resumed run keeps its model's vocabulary: "
        "keep data.problem (or train a new run)\n"
    )


def test_hihell_state_with_other_characters_is_refused():
    config = api.make_config("hihell", {"data.source": "xyzxyz", "data.target": "zyxzyx"})
    with pytest.raises(ConfigError, match=r"^'xyzxyz' -> 'zyxzyx' is written .*'xyz'.*'ehilo'"):
        HihellTask(config, None, CPU, {"chars": list("ehilo")})
    fewer = api.make_config("hihell", {"data.source": "hello", "data.target": "olleh"})
    assert HihellTask(fewer, None, CPU, {"chars": list("ehilo")}).chars == list("ehilo")


# ------------------------------------------------- hihell dropout with one layer


def test_hihell_notes_dropout_that_does_nothing():
    one = api.make_config("hihell", {"model.dropout": 0.5})
    notes = HihellTask.config_notes(one)
    assert len(notes) == 1 and "does nothing with 1 layer: hihell" in notes[0]
    two = api.make_config("hihell", {"model.dropout": 0.5, "model.layers": 2})
    assert HihellTask.config_notes(two) == []


# ------------------------------------------------- translate: leading zeros


def test_leading_zero_is_unlike_training_without_padded_operands():
    plain = api.make_config("seq2seq-add", {"data.pad_operands": False})
    task = Seq2SeqTask(plain, None, CPU)
    assert "leading zero" in task.unlike_training("07+5")
    assert "leading zero" in task.unlike_training("7+005")
    assert task.unlike_training("0+5") is None and task.unlike_training("70+5") is None
    padded = Seq2SeqTask(api.make_config("seq2seq-add", {"data.pad_operands": True}), None, CPU)
    assert padded.unlike_training("07+5") is None  # fed as 007+005, like every example


# ------------------------------------------------- generator: test set size, widths


@pytest.mark.parametrize(
    "problem, kw",
    [("reverse", {"length": 10, "digits": 3}), ("sort", {"length": 8, "digits": 3}),
     ("add", {"length": 1, "digits": 3}), ("add", {"length": 1, "digits": 18})],
)  # fmt: skip
def test_test_set_larger_than_training_set_has_its_size(problem, kw):
    # A huge problem space: the test set asked for must be generated in full (the cap of
    # half a stratum's drawn examples used to leave 3,758 of 5,000).
    for train_size, test_size in ((1000, 5000), (100, 200)):
        train, test = synthetic.generate(
            problem, train_size=train_size, test_size=test_size, seed=0, **kw
        )
        assert (len(train), len(test)) == (train_size, test_size)
        assert len(set(test)) == test_size and not set(train) & set(test)


def test_tiny_strata_still_keep_half_for_training():
    # One-digit sums (100 of them) still give at most half to the test set.
    train, test = synthetic.generate(
        "add", length=1, digits=3, train_size=100, test_size=5000, seed=0
    )
    one_digit = {s for s in test if len(s) == 3}
    assert len(one_digit) <= 50


def test_operand_widths_are_exact_for_long_numbers():
    rows = np.array([[0, 9], [10, 999_999_999_999_999_999], [10**17, 99_999_999_999_999_999]])
    assert synthetic._strata("add", rows) == [(1, 1), (2, 18), (18, 17)]


def test_a_long_input_unlike_training_is_shown_by_its_ends():
    # a pasted 5,000-digit input was printed whole inside the one-line note
    task = Seq2SeqTask(
        api.make_config("seq2seq-reverse", {"data.length": 4}), None, torch.device("cpu")
    )
    text = "1" + "0" * 4998 + "9"
    note = task.unlike_training(text)
    assert len(note) < 120 and "has 5000 digits" in note and "'10000" in note and "09'" in note
    assert task.unlike_training("123").startswith("'123' has 3 digits")


def test_a_problem_too_small_for_the_sizes_asked_says_so_in_the_run_header():
    # 3-digit reversal has 1,000 inputs: test 600 + train 800 cannot all be distinct; the
    # header said "500 test pairs" with no word on why, and hid the repeated training pairs
    over = {"data.length": 3, "data.train_size": 800, "data.test_size": 600}
    task = Seq2SeqTask(api.make_config("seq2seq-reverse", over), None, torch.device("cpu"))
    line = task.describe()
    train, test = task.data["train_text"][0], task.data["test_text"][0]
    assert f"800 training ({len(set(train))} distinct)" in line and len(set(train)) < 800
    assert f"{len(test)} test pairs (not 600: the problem has 1,000 distinct inputs)" in line
    plenty = {"data.length": 6, "data.train_size": 800, "data.test_size": 600}
    task = Seq2SeqTask(api.make_config("seq2seq-reverse", plenty), None, torch.device("cpu"))
    assert "800 training, 600 test pairs (e.g." in task.describe()
