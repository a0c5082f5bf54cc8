"""Defects found by an audit of `rnnlab sample` and `rnnlab tag` (and their Python API): each
test failed before its fix. Small synthetic data, so the whole file runs in seconds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rnnlab import api, cli
from rnnlab.errors import ConfigError, DataError
from rnnlab.inference.sampling import sample
from rnnlab.inference.tagging import tag, tag_many
from rnnlab.tasks.tagger import TaggerTask
from tests.conftest import one_line_error

CONLLU = """# sent_id = 1
1\tThe\tthe\tDET\tDT\t_\t2\tdet\t_\t_
2\tdog\tdog\tNOUN\tNN\t_\t3\tnsubj\t_\t_
3\tbarks\tbark\tVERB\tVBZ\t_\t0\troot\t_\t_
4\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\t_

# sent_id = 2
1\tGo\tgo\tVERB\tVB\t_\t0\troot\t_\t_
2\thome\thome\tADV\tRB\t_\t1\tadvmod\t_\t_

"""


@pytest.fixture(scope="module")
def tagger_ckpt(tmp_path_factory) -> Path:
    """A two-iteration tagger whose inference batches hold 2 sentences."""
    root = tmp_path_factory.mktemp("pos")
    folder = root / "ud_english_ewt"
    folder.mkdir()
    for split in ("train", "dev", "test"):
        (folder / f"en_ewt-ud-{split}.conllu").write_text(CONLLU, encoding="utf-8")
    result = api.train(
        "pos-tiny",
        overrides={
            "train.iters": 2,
            "train.eval_every": 2,
            "train.batch_size": 2,
            "train.eval_batch_size": 2,
        },
        data_dir=root,
        runs_dir=root / "runs",
        verbose=False,
    )
    return result.checkpoint


@pytest.fixture(scope="module")
def charlm_ckpt(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lm")
    text = root / "t.txt"
    text.write_text("the cat sat on the mat. " * 200, encoding="utf-8")
    result = api.train(
        "charlm-tiny",
        overrides={
            "data.path": str(text),
            "train.iters": 2,
            "train.eval_every": 2,
            "train.batch_size": 4,
            "data.seq_len": 16,
            "model.hidden": 16,
        },
        runs_dir=root / "runs",
        verbose=False,
    )
    return result.checkpoint


# --------------------------------------------------------------------------- tag: batching


def test_tagging_batches_sentences_of_similar_length(tagger_ckpt, monkeypatch):
    """One long sentence among short ones padded every batch it met to its length."""
    shapes: list[tuple[int, int]] = []
    collate = TaggerTask.collate

    def recording(self, word_ids, form_ids, tag_ids=None):
        shapes.append((len(word_ids), max(len(w) for w in word_ids)))
        return collate(self, word_ids, form_ids, tag_ids)

    long = " ".join(["dog"] * 40)
    sentences = [long, "The", "Go", long, "home"]
    alone = [tag(tagger_ckpt, s) for s in sentences]
    monkeypatch.setattr(TaggerTask, "collate", recording)
    together = tag_many(tagger_ckpt, sentences)
    assert together == alone  # same tags, same order
    # sorted: [The, Go] [home, long] [long] = 2 + 80 + 40 padded positions (unsorted: 161)
    assert sum(b * t for b, t in shapes) == 122


def test_tagging_batches_are_bounded_in_padded_positions(tagger_ckpt, monkeypatch):
    """Within eval_batch_size sentences, one long line padded all the others to its length
    (a 3,000-word line among 999 short ones took 3 GB with pos-tiny)."""
    from rnnlab.tasks import tagger as tagger_module

    assert tagger_module._length_batches([3, 1, 30, 2, 1], 1000) == [[1, 4, 3, 0, 2]]
    monkeypatch.setattr(tagger_module, "_TAG_POSITIONS", 10)
    assert tagger_module._length_batches([3, 1, 30, 2, 1], 1000) == [[1, 4, 3], [0], [2]]
    assert tagger_module._length_batches([1, 1, 1], 2) == [[0, 1], [2]]
    sentences = ["The dog", " ".join(["dog"] * 30), "Go", "Go home now"]
    assert tag_many(tagger_ckpt, sentences) == [tag(tagger_ckpt, s) for s in sentences]


# --------------------------------------------------------------------------- tag: API types


@pytest.mark.parametrize(
    "sentence, message",
    [
        (5, "sentence 1 must be a string or a list of its words, got 5"),
        (None, "sentence 1 must be a string or a list of its words, got None"),
        (b"The dog", "sentence 1 must be a string or a list of its words"),
        (["The", None], r"sentence 1 has a word that is not a string \(None\)"),
        (["The", 3], r"sentence 1 has a word that is not a string \(3\)"),
    ],
)
def test_tag_many_refuses_sentences_that_are_not_text(tagger_ckpt, sentence, message):
    with pytest.raises(DataError, match=message):
        tag_many(tagger_ckpt, [sentence])


def test_tag_refuses_words_that_are_not_strings(tagger_ckpt):
    with pytest.raises(DataError, match="not a string"):
        tag(tagger_ckpt, ["The", b"dog"])
    assert [w for w, _ in tag(tagger_ckpt, ("The", "dog"))] == ["The", "dog"]


# --------------------------------------------------------------------------- tag --file


def test_tag_file_without_sentences_names_the_file(tagger_ckpt, tmp_path, capsys):
    blank = tmp_path / "blank.txt"
    blank.write_text("\n   \n", encoding="utf-8")
    err = one_line_error(capsys, ["tag", str(tagger_ckpt), "--file", str(blank)])
    assert "blank.txt has no sentences" in err and "or --file" not in err
    # with sentences on the command line too, the empty file is simply nothing more
    assert cli.main(["tag", str(tagger_ckpt), "The dog", "--file", str(blank)]) == 0
    assert capsys.readouterr().out.startswith("The/")


def test_tag_file_empty_name_is_not_ignored(tagger_ckpt, capsys):
    err = one_line_error(capsys, ["tag", str(tagger_ckpt), "--file", ""])
    assert "is a folder" in err


@pytest.mark.parametrize("name", ["/dev/stdin", "-"])
def test_tag_file_from_a_pipe(tagger_ckpt, name):
    """--file /dev/stdin (or a shell's <(cmd)) is a pipe, not a regular file: it was
    reported as "not found". `-` is standard input too. Lines end at newlines only (a form
    feed inside one, which str.splitlines breaks at, is whitespace between words)."""
    proc = subprocess.run(
        [sys.executable, "-m", "rnnlab", "tag", str(tagger_ckpt), "--file", name],
        input="The dog\fbarks .\r\n\nGo home\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("The/") and lines[1].startswith("Go/")
    assert len(lines[0].split()) == 4  # The dog barks .


# --------------------------------------------------------------------------- sample


def test_sample_temperature_beyond_any_float_is_one_error(charlm_ckpt):
    with pytest.raises(ConfigError, match="temperature is too large"):
        sample(charlm_ckpt, length=5, temperature=10**400)
    # large but finite still samples (nearly uniform)
    assert len(sample(charlm_ckpt, prime="the", length=5, temperature=1e300, seed=1)) == 8


def test_json_output_is_strict_when_a_metric_is_nan(tagger_ckpt, capsys):
    """With every dev word known, the tagger's oov_acc is NaN; --json printed the bare word
    NaN, which jq and JavaScript refuse. It is null, as in report.json."""
    import json

    root = Path(tagger_ckpt).parents[2]  # the fixture's data root: runs/NAME/last.pt
    argv = ["train", "--preset", "pos-tiny", "--set", "data.min_freq=1", "--iters", "2"]
    argv += ["--eval-every", "2", "--batch-size", "2", "--data-dir", str(root)]
    argv += ["--runs-dir", str(root / "runs-nan"), "--json"]
    assert cli.main(argv) == 0

    def strict(text: str) -> dict:
        return json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in --json output"))

    trained = strict(capsys.readouterr().out)
    assert trained["metrics"]["oov_acc"] is None
    result_file = Path(trained["checkpoint"]).parent / "result.json"
    assert strict(result_file.read_text())["metrics"]["oov_acc"] is None
    assert cli.main(["evaluate", trained["checkpoint"], "--data-dir", str(root), "--json"]) == 0
    assert strict(capsys.readouterr().out)["oov_acc"] is None
    assert cli.main(["runs", "--runs-dir", str(root / "runs-nan"), "--json"]) == 0
    (run,) = strict(capsys.readouterr().out)
    assert run["final_metrics"]["oov_acc"] is None
