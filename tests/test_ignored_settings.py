"""Settings a run accepts but does not use are said once, in a "Note:" line under the run's
first line (and in `train --dry-run`), only when they differ from the field's default: a
config written out whole (a run folder's config.toml) and the shipped presets bring none."""

from __future__ import annotations

import pytest

from rnnlab import api
from rnnlab.cli import main
from rnnlab.config import (
    from_dict,
    load_config_file,
    load_preset,
    parse_toml,
    preset_names,
    to_toml,
    tomllib,
)
from rnnlab.tasks import get_task_class

HIHELL = ["train", "--preset", "hihell", "--iters", "10"]  # two evaluations, well under 1 s


def notes(source, overrides=None, total=None) -> list[str]:
    cfg = api.make_config(source, overrides)
    return get_task_class(cfg.task).config_notes(cfg, total=total)


def cli(capsys, *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def hihell_file(tmp_path, train: str):
    path = tmp_path / "mine.toml"
    path.write_text(f'task = "hihell"\n\n[train]\nbatch_size = 1\neval_every = 2\n{train}\n')
    return path


# ------------------------------------------------------------ 1. momentum with Adam


def test_momentum_with_adam_is_said_once_per_run(capsys, tmp_path):
    runs = ["--runs-dir", str(tmp_path)]
    out = cli(capsys, *HIHELL, "--momentum", "0.9", *runs)
    line = "Note: train.momentum=0.9 does nothing with optimizer adam"
    assert out.count(line) == 1  # once at the start, not at each of the two evaluations
    assert out.splitlines()[1].startswith(line)  # under the run's first line
    # sgd uses it, and a momentum left at its default is no news
    assert "Note" not in cli(capsys, *HIHELL, "--momentum", "0.9", "--optimizer", "sgd", *runs)
    assert "Note" not in cli(capsys, *HIHELL, *runs)


def test_momentum_note_for_adamw_but_not_rmsprop():
    assert notes("sheet-lstm", {"train.optimizer": "adamw", "train.momentum": 0.5}) == [
        "Note: train.momentum=0.5 does nothing with optimizer adamw (its betas take that "
        "part); momentum acts with sgd and rmsprop"
    ]
    assert notes("sheet-lstm", {"train.optimizer": "rmsprop", "train.momentum": 0.5}) == []


# ------------------------------------------------------------ 2. model fields a task never reads


@pytest.mark.parametrize(
    ("source", "field", "value", "text"),
    [
        ("sheet-lstm", "embedding_dim", 32, "model.embedding_dim=32 does nothing in a classify"),
        ("sheet-lstm", "attention", True, "model.attention=true does nothing in a classify run"),
        ("sheet-lstm", "char_dim", 16, "model.char_dim=16 does nothing in a classify run"),
        ("sheet-lstm", "char_widths", "2,3", 'model.char_widths="2,3" does nothing in a classify'),
        ("hihell", "embedding_dim", 4, "model.embedding_dim=4 does nothing in a hihell run"),
        ("hihell", "attention", True, "model.attention=true does nothing in a hihell run"),
        ("hihell", "fc_hidden", 8, "model.fc_hidden=8 does nothing in a hihell run"),
        ("charlm-tiny", "attention", True, "model.attention=true does nothing in a charlm run"),
        ("charlm-tiny", "char_dim", 8, "model.char_dim=8 does nothing in a charlm run"),
        ("seq2seq-reverse", "fc_hidden", 8, "model.fc_hidden=8 does nothing in a seq2seq run"),
        ("seq2seq-reverse", "char_dim", 8, "model.char_dim=8 does nothing in a seq2seq run"),
        ("pos-tiny", "attention", True, "model.attention=true does nothing in a tagger run"),
    ],
)
def test_a_model_field_the_task_never_reads_is_noted(source, field, value, text):
    said = notes(source, {f"model.{field}": value})
    assert len(said) == 1 and said[0].startswith(f"Note: {text}")
    assert "only" in said[0] and "models use it (its default is" in said[0]


def test_model_fields_a_task_does_read_bring_no_note():
    assert notes("seq2seq-reverse", {"model.attention": False}) == []  # attention is its own
    assert notes("charlm-tiny", {"model.embedding_dim": 8}) == []
    assert notes("pos-tiny", {"model.char_dim": 24, "model.char_widths": "2,3"}) == []
    assert notes("sheet-lstm", {"model.fc_hidden": 64, "model.bidirectional": True}) == []


def test_settings_that_only_some_configs_of_a_task_read():
    # the tagger's filter widths need character features; seq2seq data fields per problem
    said = notes("pos-tiny", {"model.char_dim": 0, "model.char_widths": "2,3"})
    assert said == [
        'Note: model.char_widths="2,3" does nothing without character features '
        "(model.char_dim=0); set model.char_dim to use them"
    ]
    said = notes("seq2seq-reverse", {"data.digits": 5, "model.attention": False,
                                     "data.attention_score": "additive"})  # fmt: skip
    assert [n.split(" does nothing")[0] for n in said] == [
        "Note: data.digits=5",
        'Note: data.attention_score="additive"',
    ]
    assert notes("seq2seq-add", {"data.length": 4})[0].startswith(
        'Note: data.length=4 does nothing with problem "add"'
    )
    assert notes("sheet-lstm", {"data.permutation_seed": 3})[0].startswith(
        'Note: data.permutation_seed=3 does nothing with view "rows"'
    )
    assert notes("sheet-lstm", {"data.permutation_seed": 3, "data.view": "permuted"}) == []


def test_a_dry_run_shows_the_notes_and_stays_a_config_file(capsys):
    out = cli(capsys, "train", "--preset", "seed-c", "--set", "model.attention=true",
              "--set", "model.embedding_dim=64", "--dry-run")  # fmt: skip
    lines = out.splitlines()
    assert lines[2].startswith("# Note: model.embedding_dim=64 does nothing in a classify run")
    assert lines[3].startswith("# Note: model.attention=true does nothing in a classify run")
    # the parameter count is the plain seed-c model's: the fields changed nothing
    plain = cli(capsys, "train", "--preset", "seed-c", "--dry-run").splitlines()
    assert lines[0] == plain[0] and "Note" not in "".join(plain)
    assert tomllib.loads(out)["model"]["attention"] is True  # the notes are TOML comments


def test_an_ignored_model_field_is_said_once_in_a_run(capsys, tmp_path):
    api.train("hihell", overrides={"train.iters": 10, "model.embedding_dim": 4},
              runs_dir=tmp_path)  # fmt: skip
    assert capsys.readouterr().out.count("Note: model.embedding_dim=4 does nothing") == 1


# ------------------------------------------------------------ 3. train.iters beside train.epochs


def test_a_file_giving_both_iters_and_epochs_says_epochs_win(capsys, tmp_path):
    path = hihell_file(tmp_path, "iters = 50\nepochs = 5")
    out = cli(capsys, "train", "--config", str(path), "--runs-dir", str(tmp_path / "runs"))
    # hihell's epoch is one batch: 5 epochs are 5 iterations, and the run says how many
    line = (
        "Note: train.epochs=5 sets this run's length (5 iterations); train.iters=50 is not "
        "used (epochs win when both are given: set iters = 0 or drop epochs)"
    )
    assert out.count(line) == 1
    assert api.runs(tmp_path / "runs")[0]["iteration"] == 5


def test_iters_beside_epochs_unnoted_where_it_means_nothing(tmp_path):
    # to_toml writes both fields: iters left at its default (pos-ewt) or 0 is no conflict
    for train in ("epochs = 5", "iters = 0\nepochs = 5", "iters = 3000\nepochs = 5"):
        cfg = load_config_file(hihell_file(tmp_path, train))
        assert get_task_class("hihell").config_notes(cfg) == []
    # an override of either length clears the other, so a saved run's config has one
    cfg = api.make_config(load_config_file(hihell_file(tmp_path, "iters = 50\nepochs = 5")),
                          {"train.iters": 20})  # fmt: skip
    assert get_task_class("hihell").config_notes(from_dict(parse_toml(to_toml(cfg), "x"))) == []


# ------------------------------------------------------------ 4. warm-up longer than the run


def test_a_warmup_longer_than_the_run_is_noted(capsys, tmp_path):
    out = cli(capsys, *HIHELL, "--set", "train.warmup=40", "--runs-dir", str(tmp_path))
    line = (
        "Note: train.warmup=40 is not shorter than the run (10 iterations): the learning "
        "rate rises all run long, to 0.0125 at most (train.lr=0.05); shorten train.warmup "
        "or train longer"
    )
    assert out.count(line) == 1
    said = notes("charlm-tiny", {"train.warmup": 100, "train.schedule": "cosine"})
    assert said[0].endswith("cosine schedule never starts; shorten train.warmup or train longer")
    assert notes("charlm-tiny", {"train.warmup": 99}) == []


def test_a_warmup_is_measured_against_a_run_by_epochs(capsys, tmp_path):
    path = hihell_file(tmp_path, "iters = 0\nepochs = 4\nwarmup = 6")
    out = cli(capsys, "train", "--config", str(path), "--runs-dir", str(tmp_path / "runs"))
    assert out.count("Note: train.warmup=6 is not shorter than the run (4 iterations)") == 1


def test_a_resumed_run_cut_shorter_than_its_warmup_still_trains(capsys, tmp_path):
    # 40 iterations with a 30-iteration warm-up, stopped at iteration 10 ...
    first = api.train("hihell", overrides={"train.iters": 40, "train.warmup": 30},
                      runs_dir=tmp_path, on_evaluate=lambda i, m: i >= 10)  # fmt: skip
    assert first.status == "stopped" and first.iteration == 10
    assert "Note" not in capsys.readouterr().out
    # ... and resumed to a total of 20: the warm-up now outlasts the run, which is said
    again = api.train(resume=first.checkpoint, overrides={"train.iters": 20})
    assert again.status == "completed" and again.iteration == 20
    out = capsys.readouterr().out
    assert out.count("Note: train.warmup=30 is not shorter than the run (20 iterations)") == 1


# ------------------------------------------------------------ shipped presets and saved configs


@pytest.mark.parametrize("name", preset_names())
def test_a_shipped_preset_brings_no_note(name):
    cfg = load_preset(name)
    task = get_task_class(cfg.task)
    assert task.config_notes(cfg) == []
    # its run folder's config.toml has every field written out: still none
    assert task.config_notes(from_dict(parse_toml(to_toml(cfg), name))) == []


def test_the_preset_list_is_the_one_checked(capsys):
    listed = {line.split()[0] for line in cli(capsys, "presets").splitlines() if line.strip()}
    assert set(preset_names()) <= listed


def test_a_run_folders_config_reruns_without_notes(capsys, tmp_path):
    result = api.train("hihell", overrides={"train.iters": 10}, runs_dir=tmp_path)
    capsys.readouterr()
    saved = result.run_dir / "config.toml"
    out = cli(capsys, "train", "--config", str(saved), "--runs-dir", str(tmp_path))
    assert "Note" not in out and api.runs(tmp_path)[0]["iteration"] == 10


def test_a_comparison_says_its_runs_notes_once_each_naming_the_configurations(tmp_path, capsys):
    # compare trains its runs quietly, so the notes train prints at a run's start were lost
    from rnnlab.commands.compare import show_plan
    from rnnlab.experiments.compare import plan_comparison

    plan = plan_comparison(
        "hihell", grid={"train.optimizer": "sgd,adam", "model.attention": "false,true"},
        seeds=[0, 1], overrides={"train.momentum": 0.9}, runs_dir=tmp_path,
    )  # fmt: skip
    notes = plan.notes()
    assert len(notes) == 2  # each once, though 4 runs bring each
    attention = next(n for n in notes if "model.attention" in n)
    assert attention.endswith("[optimizer=sgd attention=true, optimizer=adam attention=true]")
    momentum = next(n for n in notes if "train.momentum" in n)
    assert "optimizer=adam attention=false" in momentum and "optimizer=sgd" not in momentum
    assert plan.to_dict()["notes"] == notes
    show_plan(plan)
    assert capsys.readouterr().out.count("Note: ") == 2
    # a note every configuration brings names none
    plan = plan_comparison("hihell", overrides={"model.attention": True}, runs_dir=tmp_path)
    assert [n.endswith("(its default is false)") for n in plan.notes()] == [True]
