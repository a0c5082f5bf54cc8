"""Audit of the text readers (CoNLL-U for the tagger, plain text for the character model):
odd files give one clear line, are read as the format says, and are found before training."""

from __future__ import annotations

from pathlib import Path

import pytest

import rnnlab
from rnnlab import api
from rnnlab.data import tagging as tg
from rnnlab.data.text import read_text
from rnnlab.errors import DataError
from rnnlab.tasks.tagger import TaggerTask
from tests.conftest import one_line_error


def token(i: int, form: str, upos: str, lemma: str = "_") -> str:
    return f"{i}\t{form}\t{lemma}\t{upos}\t_\t_\t0\tdep\t_\t_\n"


CORPUS = (
    "# sent_id = 1\n"
    + token(1, "I", "PRON")
    + "2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n"
    + token(2, "do", "AUX")
    + token(3, "n't", "PART")
    + token(4, "know", "VERB")
    + "4.1\tknow\t_\t_\t_\t_\t_\t_\t0:root\t_\n"
    + token(5, ".", "PUNCT")
    + "\n"
    + token(1, "Go", "VERB")
    + token(2, "home", "ADV")
    + "\n"
    + token(1, "They", "PRON")
    + token(2, "ran", "VERB")
    + token(3, ".", "PUNCT")
    + "\n"
)
QUICK = {"train.iters": 2, "train.eval_every": 2, "train.batch_size": 2, "threads": 1}


def tagger_data(root: Path, text: str = CORPUS, splits=("train", "dev", "test")) -> Path:
    folder = root / "ud_english_ewt"
    folder.mkdir(parents=True, exist_ok=True)
    for split in splits:
        (folder / f"en_ewt-ud-{split}.conllu").write_text(text, encoding="utf-8")
    return root


# --------------------------------------------------------------------------- CoNLL-U


def test_conllu_columns_are_split_on_tabs_only(tmp_path):
    """conllu also split on two spaces: "New  York" gave the word "New" the tag "New York"."""
    path = tmp_path / "spaces.conllu"
    path.write_text(
        token(1, "New  York", "PROPN", lemma="New York")
        + token(2, "is", "AUX")
        + "\n"
        + token(1, "go", "VERB", lemma="go  on")
        + "\n",
        encoding="utf-8",
    )
    sentences = tg.read_conllu(path)
    assert [(s.words, s.tags) for s in sentences] == [
        (["New  York", "is"], ["PROPN", "AUX"]),
        (["go"], ["VERB"]),
    ]


@pytest.mark.parametrize(
    "variant",
    [
        lambda b: b.replace(b"\n", b"\r\n"),  # Windows
        lambda b: b.replace(b"\n", b"\r"),  # old Mac
        lambda b: b"\xef\xbb\xbf" + b,  # byte-order mark
        lambda b: b.rstrip(b"\n"),  # no blank line after the last sentence
    ],
    ids=["crlf", "cr", "bom", "no-final-blank-line"],
)
def test_conllu_line_ends_and_bom_read_as_plain_lf(tmp_path, variant):
    plain, odd = tmp_path / "plain.conllu", tmp_path / "odd.conllu"
    plain.write_text(CORPUS, encoding="utf-8")
    odd.write_bytes(variant(CORPUS.encode("utf-8")))
    assert tg.read_conllu(odd) == tg.read_conllu(plain)
    assert [s.words for s in tg.read_conllu(plain)][0] == ["I", "do", "n't", "know", "."]


def test_conllu_limit_keeps_first_sentences_and_still_checks_every_line(tmp_path):
    path = tmp_path / "x.conllu"
    path.write_text(CORPUS, encoding="utf-8")
    assert [s.words for s in tg.read_conllu(path, limit=2)] == [
        ["I", "do", "n't", "know", "."],
        ["Go", "home"],
    ]
    path.write_text(CORPUS + "1\tbad\tline\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 17: a token line needs 10"):
        tg.read_conllu(path, limit=1)


def test_non_utf8_conllu_names_the_line_and_the_fix(tmp_path):
    path = tmp_path / "latin1.conllu"
    path.write_bytes(CORPUS.encode("utf-8").replace(b"home", b"h\xe9me"))
    with pytest.raises(DataError) as info:
        tg.read_conllu(path)
    message = str(info.value)
    assert "invalid byte 0xe9 on line 11" in message
    assert "convert it to UTF-8" in message


@pytest.mark.parametrize(
    "text",
    ["", "# only\n# comments\n", "\n\n", "1-2\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n\n"],
    ids=["empty", "comments", "blank", "only-a-range"],
)
def test_conllu_without_words_is_one_clear_line(tmp_path, capsys, text):
    root = tagger_data(tmp_path / "data")
    (root / "ud_english_ewt" / "en_ewt-ud-train.conllu").write_text(text, encoding="utf-8")
    argv = ["train", "--preset", "pos-tiny", "--data-dir", str(root), "--iters", "2"]
    err = one_line_error(capsys, [*argv, "--runs-dir", str(tmp_path / "runs")])
    assert "en_ewt-ud-train.conllu holds no sentences" in err


def test_unreadable_files_are_one_clear_line(tmp_path, monkeypatch):
    (tmp_path / "a.conllu").write_text(CORPUS, encoding="utf-8")
    (tmp_path / "a.txt").write_text("hello", encoding="utf-8")

    def denied(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(DataError, match=r"cannot read .*a\.conllu \(Permission denied\)"):
        tg.read_conllu(tmp_path / "a.conllu")
    with pytest.raises(DataError, match=r"cannot read text file .*a\.txt \(Permission denied\)"):
        read_text(tmp_path / "a.txt")


# --------------------------------------------------------------------------- held-out splits


@pytest.mark.parametrize("split", ["dev", "test"])
def test_missing_held_out_file_is_found_before_the_run_starts(tmp_path, capsys, split):
    """It was read at the first evaluation: every step before it was lost, and the store
    kept a failed run."""
    root = tagger_data(tmp_path / "data")
    (root / "ud_english_ewt" / f"en_ewt-ud-{split}.conllu").unlink()
    runs = tmp_path / "runs"
    with pytest.raises(DataError, match=f"en_ewt-ud-{split}.conllu not found"):
        api.train("pos-tiny", data_dir=root, runs_dir=runs, overrides=QUICK, verbose=False)
    assert not (runs / "rnnlab.db").exists()
    argv = ["train", "--preset", "pos-tiny", "--data-dir", str(root), "--iters", "2"]
    err = one_line_error(capsys, [*argv, "--runs-dir", str(runs)])
    assert f"data.{split}" in err


def test_malformed_dev_file_is_found_before_the_run_starts(tmp_path):
    root = tagger_data(tmp_path / "data")
    (root / "ud_english_ewt" / "en_ewt-ud-dev.conllu").write_text(
        CORPUS + "1\tno\ttag\n", encoding="utf-8"
    )
    runs = tmp_path / "runs"
    with pytest.raises(DataError, match="en_ewt-ud-dev.conllu, line 17"):
        api.train("pos-tiny", data_dir=root, runs_dir=runs, overrides=QUICK, verbose=False)
    assert not (runs / "rnnlab.db").exists()


def test_resume_without_a_held_out_file_stops_before_training_on(tmp_path, monkeypatch):
    root = tagger_data(tmp_path / "data")
    runs = tmp_path / "runs"
    first = api.train("pos-tiny", data_dir=root, runs_dir=runs, overrides=QUICK, verbose=False)
    (root / "ud_english_ewt" / "en_ewt-ud-test.conllu").unlink()
    steps = []
    loss = TaggerTask.loss

    def counting(self, model, batch, iteration):
        steps.append(iteration)
        return loss(self, model, batch, iteration)

    monkeypatch.setattr(TaggerTask, "loss", counting)
    with pytest.raises(DataError, match="en_ewt-ud-test.conllu not found"):
        api.train(
            resume=first.checkpoint,
            data_dir=root,
            overrides={"train.iters": 6, "train.eval_every": 6},
            verbose=False,
        )
    assert steps == []  # no step trained and then thrown away


def test_tag_needs_no_data_files(tmp_path):
    root = tagger_data(tmp_path / "data")
    runs = tmp_path / "runs"
    result = api.train("pos-tiny", data_dir=root, runs_dir=runs, overrides=QUICK, verbose=False)
    for split in ("train", "dev", "test"):
        (root / "ud_english_ewt" / f"en_ewt-ud-{split}.conllu").unlink()
    pairs = rnnlab.tag(result.checkpoint, "They ran home .")
    assert [w for w, _ in pairs] == ["They", "ran", "home", "."]


# --------------------------------------------------------------------------- character LM


def charlm_error(capsys, tmp_path: Path, text: str, *options: str) -> str:
    path = tmp_path / "text.txt"
    path.write_text(text, encoding="utf-8")
    argv = ["train", "--preset", "charlm-tiny", "--set", f"data.path={path}", *options]
    return one_line_error(capsys, [*argv, "--runs-dir", str(tmp_path / "runs")])


@pytest.mark.parametrize("text", ["a", "\n", "ab"])
def test_text_too_short_for_any_layout_asks_for_more_text(tmp_path, capsys, text):
    """Lowering batch_size or seq_len cannot help a text of a character or two."""
    err = charlm_error(capsys, tmp_path, text)
    assert "is too short to learn from; give a longer text" in err
    assert "batch_size" not in err


def test_text_too_short_for_the_layout_says_how_much_it_needs(tmp_path, capsys):
    err = charlm_error(capsys, tmp_path, "to be or not to be\n" * 5)
    assert "too short for 16 streams of 32 characters (they need at least 560)" in err
    assert "lower train.batch_size or data.seq_len" in err


def test_validation_part_of_unseen_characters_names_them(tmp_path, capsys):
    """It was called empty, and raising val_fraction was the only advice."""
    small = ("--set", "train.batch_size=2", "--set", "data.seq_len=4")
    err = charlm_error(capsys, tmp_path, "abcdefghij" * 27 + "€" * 30, *small)
    assert "(its last 30 characters) holds 0 of the training part's characters" in err
    assert "('€') never occur in it" in err
