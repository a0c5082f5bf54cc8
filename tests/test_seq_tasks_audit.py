"""Audit of the sequence tasks (hihell, seq2seq, translate): each test failed before its fix."""

from __future__ import annotations

import json

import pytest

from rnnlab import api
from rnnlab.cli import main
from rnnlab.errors import ConfigError
from rnnlab.inference.translation import UnlikeTraining, translate_many, translate_with_notes
from tests.test_seq2seq_audit import TINY

# the audit tests' tiny seq2seq run, as an addition of 2-digit numbers
TINY_ADD = {
    **{k: v for k, v in TINY.items() if k != "data.length"},
    "data.problem": "add",
    "data.digits": 2,
}


@pytest.fixture(scope="module")
def tiny_adder(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    return api.train("seq2seq-add", overrides=TINY_ADD, runs_dir=runs, verbose=False).checkpoint


# ------------------------------------------------- data.data_seed


def test_negative_data_seed_is_a_config_error(capsys):
    # numpy refused it mid-run: "unexpected ValueError: expected non-negative integer"
    with pytest.raises(ConfigError, match=r"^data.data_seed must be 0 or more, got -1$"):
        api.make_config("seq2seq-reverse", {"data.data_seed": -1})
    assert main(["train", "--preset", "seq2seq-reverse", "--set", "data.data_seed=-1"]) == 1
    assert capsys.readouterr().err == "rnnlab: error: data.data_seed must be 0 or more, got -1\n"


# ------------------------------------------------- translate --json


def test_translate_json_gives_answers_with_their_notes(tiny_adder, capsys):
    # `translate` had no --json (tag, evaluate, runs ... have one): "unrecognized arguments"
    assert main(["translate", str(tiny_adder), "--json", "12+34", "123+4"]) == 0
    out, err = capsys.readouterr()
    rows = json.loads(out)
    assert [r["input"] for r in rows] == ["12+34", "123+4"]
    assert all(isinstance(r["answer"], str) for r in rows)
    assert rows[0]["note"] is None
    assert rows[1]["note"].startswith("'123+4' has a 3-digit number; this model was trained")
    assert err == ""  # the note is in the document, not a stray stderr line
    # without --json the same answers, one "input -> answer" a line, the note on stderr
    assert main(["translate", str(tiny_adder), "12+34", "123+4"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"{r['input']} -> {r['answer']}" for r in rows]
    assert err == f"rnnlab: note: {rows[1]['note']}\n"


def test_translate_with_notes_matches_translate_many(tiny_adder):
    answered = translate_with_notes(tiny_adder, ["1+2", "5+123"])
    with pytest.warns(UnlikeTraining, match="'5\\+123' has a 3-digit number"):
        assert translate_many(tiny_adder, ["1+2", "5+123"]) == [a for a, _ in answered]
    assert answered[0][1] is None and "expect its answer to be wrong" in answered[1][1]
    with pytest.raises(ConfigError, match="input 1 is empty"):
        translate_with_notes(tiny_adder, [""])


def test_short_sums_fill_a_quarter_of_their_share_of_the_training_set():
    # kept once each, the 100 one-digit sums were 0.05 % of seq2seq-add's pairs and its model
    # answered 0+0 with 10; now each width pair holds at least a quarter of its uniform share
    from collections import Counter

    from rnnlab.data.synthetic import generate

    train, test = generate("add", length=10, digits=3, train_size=18_000, test_size=500, seed=4)
    widths = Counter(tuple(len(n) for n in s.split("+")) for s in train)
    assert len(train) == 18_000 and len(widths) == 9
    assert min(widths.values()) >= 18_000 // (4 * 9), widths
    assert not set(train) & set(test)
    assert len({s for s in train if len(s) == 3}) >= 95  # the one-digit sums all but present
    again = generate("add", length=10, digits=3, train_size=18_000, test_size=500, seed=4)
    assert again == (train, test)
