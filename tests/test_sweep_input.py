"""rnnlab sweep's input checks: seeds, the data an objective is measured on, sweep files,
argument types, the base config's data and the study's files, each a one-line error found
before any trial runs (or, for the objective's data, said plainly in every line)."""

from __future__ import annotations

import json

import pytest

from rnnlab import api, cli
from rnnlab.errors import ConfigError, DataError
from rnnlab.experiments import sweep as sw
from rnnlab.experiments.sweep.checks import check_base_data
from rnnlab.experiments.sweep.results import SweepResult, TrialRecord
from rnnlab.tasks import TASKS, get_task_class
from tests.conftest import QUICK, one_line_error

optuna = pytest.importorskip("optuna")

HIHELL = ["sweep", "--preset", "hihell", "--param", "train.lr=log:1e-3:1e-1", "--iters", "20"]
# one preset per task, for the tasks' declarations
TASK_PRESETS = {
    "classify": "sheet-rnn",
    "hihell": "hihell",
    "seq2seq": "seq2seq-reverse",
    "charlm": "charlm-tiny",
    "tagger": "pos-tiny",
}


def error_and_output(capsys, argv: list[str]) -> tuple[str, str]:
    """The one `rnnlab: error:` line of a failing command, and what it printed before it."""
    code = cli.main(argv)
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and err.startswith("rnnlab: error: "), err
    return err, captured.out


# -- 1. the sampler's seed ------------------------------------------------------------------


@pytest.mark.parametrize("seed", ["-1", "4294967296", "5000000000"])
@pytest.mark.parametrize("dry_run", [False, True])
def test_a_sampler_seed_outside_0_to_2_32_is_one_line_before_anything(
    capsys, tmp_path, seed, dry_run
):
    argv = [*HIHELL, "--sampler-seed", seed, "--trials", "1", "--runs-dir", str(tmp_path)]
    err = one_line_error(capsys, argv + (["--dry-run"] if dry_run else []))
    assert "--sampler-seed must be between 0 and 2**32-1 (4294967295)" in err
    assert f"got {seed}" in err
    assert not (tmp_path / "sweeps").exists()
    with pytest.raises(ConfigError, match="--sampler-seed must be between 0 and 2"):
        sw.plan_sweep("hihell", space={"train.lr": "0.01,0.1"}, sampler_seed=int(seed))


def test_a_sweep_file_sampler_seed_is_checked_too(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('preset = "hihell"\nsampler_seed = -5\n[space]\n"train.lr" = "0.01,0.1"\n')
    with pytest.raises(ConfigError, match="between 0 and 2\\*\\*32-1 .*got -5"):
        sw.plan_sweep(definition=str(path), runs_dir=tmp_path)


def test_a_config_seed_beyond_2_32_seeds_the_sampler_mod_2_32_and_says_so(capsys, tmp_path):
    plan = sw.plan_sweep(
        "hihell", space={"train.lr": "0.01,0.1"}, overrides={"seed": 5_000_000_000}
    )
    assert plan.sampler_seed == 5_000_000_000 % 2**32 == 705032704
    assert plan.config.seed == 5_000_000_000  # the runs keep their own seed
    assert any("seed 5000000000" in n and "mod 2**32: 705032704" in n for n in plan.notes)
    small = sw.plan_sweep("hihell", space={"train.lr": "0.01,0.1"}, overrides={"seed": 7})
    assert small.sampler_seed == 7 and not small.notes
    argv = [*HIHELL, "--seed", "5000000000", "--trials", "1", "--runs-dir", str(tmp_path)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "sampler tpe (seed 705032704)" in out and "Trial 1/1" in out


def test_the_top_sampler_seed_wraps_instead_of_failing_at_trial_1(tmp_path):
    # trial #1's sampler is seeded with seed + 1, which is 2**32 here: it wraps to 0
    result = sw.sweep(
        "hihell",
        space={"train.lr": "log:1e-3:1e-1"},
        overrides={"train.iters": 20},
        trials=2,
        sampler_seed=2**32 - 1,
        runs_dir=tmp_path,
        verbose=False,
    )
    assert result.finished == 2 and [t.state for t in result.trials] == ["complete"] * 2


# -- 2. the data the objective is measured on -----------------------------------------------


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_task_declares_the_data_each_metric_is_measured_on(task):
    task_cls = get_task_class(task)
    cfg = api.make_config(TASK_PRESETS[task])
    if task == "classify":
        cfg = api.make_config(TASK_PRESETS[task], {"data.validation": 100})
    for metric in task_cls.metric_names(cfg):
        assert metric in task_cls.metric_splits, f"{task} does not declare {metric}"
        assert task_cls.metric_split(cfg, metric) in sw.plan.SPLITS


def test_the_splits_the_tasks_declare():
    hihell, seq2seq = get_task_class("hihell"), get_task_class("seq2seq")
    classify, tagger = get_task_class("classify"), get_task_class("tagger")
    cfg = api.make_config("hihell")
    assert {hihell.metric_split(cfg, m) for m in ("acc", "exact", "loss")} == {"training"}
    cfg = api.make_config("seq2seq-reverse")
    assert {seq2seq.metric_split(cfg, m) for m in ("exact", "token_acc", "test_loss")} == {"test"}
    cfg = api.make_config("sheet-rnn")
    assert classify.metric_split(cfg, "val_acc") == "validation"
    assert classify.metric_split(cfg, "test_acc") == "test"
    cfg = api.make_config("pos-tiny")
    assert tagger.metric_split(cfg, "dev_acc") == tagger.metric_split(cfg, "oov_acc")
    assert tagger.metric_split(cfg, "oov_acc") == "validation"


@pytest.mark.parametrize(
    "preset, metric, split, words",
    [
        ("sheet-rnn", "val_acc", "validation", "5000 validation images"),
        ("charlm-tiny", "val_loss", "validation", "measured on the validation data"),
        ("pos-tiny", "dev_acc", "validation", "test_acc on test reported, never tuned on"),
        ("seq2seq-reverse", "exact", "test", "the seq2seq task has no validation data"),
        ("hihell", "acc", "training", "measured on the training data"),
    ],
)
def test_the_plan_names_the_data_its_objective_is_measured_on(preset, metric, split, words):
    plan = sw.plan_sweep(preset, space={"train.lr": "0.01,0.1"})
    assert (plan.metric, plan.split) == (metric, split)
    objective = next(line for line in plan.describe() if line.startswith("Objective:"))
    assert words in objective
    if split != "validation":
        assert "validation data, so" in objective and "no validation data" in objective


@pytest.mark.parametrize(
    "preset, metric, expected",
    [
        ("sheet-rnn", "test_acc", "tunes on validation, never on test"),
        ("sheet-rnn", "train_loss", "measured on the training data"),
        ("pos-tiny", "test_acc", "use one of: dev_loss, dev_acc, oov_acc"),
        ("pos-tiny", "train_acc", "a sweep tunes on validation"),
        ("charlm-tiny", "train_loss", "use one of: val_loss, val_bpc"),
    ],
)
def test_tuning_on_test_or_training_data_is_refused_where_validation_data_exists(
    capsys, tmp_path, preset, metric, expected
):
    argv = ["sweep", "--preset", preset, "--param", "train.lr=0.01,0.1", "--metric", metric]
    err = one_line_error(capsys, [*argv, "--runs-dir", str(tmp_path)])
    assert expected in err and f"--metric {metric}" in err
    assert not (tmp_path / "sweeps").exists()


def test_a_task_without_validation_data_may_be_tuned_on_its_test_set():
    plan = sw.plan_sweep("seq2seq-reverse", space={"train.lr": "0.01,0.1"}, metric="test_loss")
    assert (plan.metric, plan.direction, plan.split) == ("test_loss", "minimize", "test")


def _result(split: str, metric: str, tests: dict[str, float]) -> SweepResult:
    trial = TrialRecord(0, "complete", {"train.lr": 0.01}, 90.0, 1, {metric: 90.0, **tests}, 1.0)
    return SweepResult(
        study="s",
        metric=metric,
        direction="maximize",
        best_params={"train.lr": 0.01},
        best_value=90.0,
        best_run_id=1,
        best_trial=0,
        best_test_metrics=trial.test_metrics,
        trials=[trial],
        paths={"summary": "s.json", "storage": "sqlite:///x"},
        target=1,
        space={"train.lr": "0.01"},
        split=split,
    )


def test_the_summary_says_where_the_objective_was_measured():
    text = "\n".join(sw.summary_lines(_result("test", "exact", {"test_loss": 0.5})))
    assert "by exact (maximize, test: the task has no validation data)" in text
    assert "exact 90.00 on test (the objective: the task has no validation data" in text
    assert "optimistic" in text and "test_loss 0.5000 on the same test set" in text
    assert "on validation" not in text and "never tuned on" not in text
    text = "\n".join(sw.summary_lines(_result("validation", "val_acc", {"test_acc": 89.0})))
    assert "by val_acc (maximize, validation)" in text
    assert "val_acc 90.00 on validation (the objective); test_acc 89.00 on test" in text


def test_a_hihell_sweep_says_it_tunes_on_the_training_string(capsys, tmp_path):
    assert cli.main([*HIHELL, "--trials", "1", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Objective: maximize acc; measured on the training data" in out
    assert "by acc (maximize, training data: the task has no validation data)" in out
    assert "on the training data (the objective: the task has no validation data" in out
    assert "on validation" not in out
    folder = tmp_path / "sweeps" / "hihell"
    assert json.loads((folder / "sweep.json").read_text())["split"] == "training"
    assert "on training data" in (folder / "best.toml").read_text().splitlines()[0]


def test_a_seq2seq_sweep_says_it_tunes_on_test(tmp_path):
    tiny = {
        "data.train_size": 200,
        "data.test_size": 40,
        "model.hidden": 8,
        "model.embedding_dim": 8,
        "train.batch_size": 20,
        "train.iters": 10,
        "train.eval_every": 10,
    }
    result = sw.sweep(
        "seq2seq-reverse",
        space={"train.lr": "0.003"},
        overrides=tiny,
        trials=1,
        runs_dir=tmp_path,
        verbose=False,
    )
    assert result.split == "test" and result.metric == "exact"
    assert "optimistic" in "\n".join(sw.summary_lines(result))


# -- 3. sweep files --------------------------------------------------------------------------


def test_a_sweep_file_that_is_not_utf8_is_one_line(capsys, tmp_path, monkeypatch):
    path = tmp_path / "latin1.txt"
    path.write_bytes(b'preset = "hihell"\n# caf\xe9\n[space]\n"train.lr" = "0.1"\n')
    monkeypatch.chdir(tmp_path)
    for name in ("latin1.txt", str(path)):
        err = one_line_error(capsys, ["sweep", "--sweep", name, "--trials", "1"])
        assert "is not UTF-8 text (byte 0xe9 at position 23); save it as UTF-8" in err


def test_a_folder_given_as_sweep_is_named_a_folder(capsys, tmp_path, monkeypatch):
    (tmp_path / "SOMEFOLDER").mkdir()
    (tmp_path / "dir.toml").mkdir()
    monkeypatch.chdir(tmp_path)
    for name in ("SOMEFOLDER", str(tmp_path / "SOMEFOLDER"), "dir.toml"):
        err = one_line_error(capsys, ["sweep", "--sweep", name])
        assert f"--sweep {name} is a folder; give one sweep TOML file in it" in err
    (tmp_path / "ex3-rnn").mkdir()  # a folder of a shipped sweep's name: the shipped one
    assert sw.load_definition("ex3-rnn")["preset"] == "sheet-rnn"


# -- 4. option values and the Python API's argument types ------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0"])
def test_a_timeout_that_is_not_a_positive_finite_number_is_one_line(capsys, tmp_path, value):
    argv = [*HIHELL, f"--timeout={value}", "--runs-dir", str(tmp_path)]  # "-inf" is no flag
    err = one_line_error(capsys, argv)
    assert "--timeout must be a positive, finite number of seconds" in err
    assert not (tmp_path / "sweeps").exists()


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({"timeout": "5"}, "timeout must be a number of seconds (e.g. timeout=600), got '5'"),
        ({"timeout": float("nan")}, "--timeout must be a positive, finite number"),
        ({"trials": "2"}, "trials must be a whole number (e.g. trials=20), got '2'"),
        ({"trials": 2.5}, "trials must be a whole number"),
        ({"trials": True}, "trials must be a whole number"),
        ({"sampler_seed": "3"}, "sampler_seed must be a whole number"),
        ({"sampler": 3}, "sampler must be one of 'tpe', 'random', 'grid'"),
        ({"prune": "yes"}, "prune must be True or False, got 'yes'"),
        ({"baseline": 1}, "baseline must be True or False"),
        ({"metric": 3}, "metric must be a metric name"),
        ({"study": 3}, "study must be a name"),
        ({"storage": 3}, "storage must be an Optuna storage URL"),
        ({"runs_dir": 3}, "runs_dir must be a folder path"),
        ({"overrides": "train.iters=3"}, "overrides must be a dict"),
        ({"space": "train.lr=0.1"}, "space must be a dict"),
        ({"space": [3]}, "space must be a dict"),
        ({"space": {"model.hidden": []}}, "space['model.hidden'] is an empty list"),
        ({"space": {"model.hidden": [[4]]}}, "space['model.hidden'] must be a SPEC string"),
        ({"space": {"model.hidden": None}}, "space['model.hidden'] must be a SPEC string"),
        ({"space": {"train.optimizer": ["sgd,adam"]}}, "holds a comma"),
        ({"space": {"model.hidden": [4, "x"]}}, "model.hidden must be an integer, got 'x'"),
    ],
)
def test_the_python_api_checks_its_arguments_like_the_command_line(tmp_path, kwargs, expected):
    options = {"space": {"train.lr": "log:1e-3:1e-1"}, "runs_dir": tmp_path, "verbose": False}
    with pytest.raises(ConfigError) as info:
        sw.sweep("hihell", **{**options, **kwargs})
    assert expected in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "sweeps").exists()


def test_a_list_in_the_space_is_a_choice_the_same_as_its_spec(tmp_path):
    plan = sw.plan_sweep(
        "hihell",
        space={
            "model.hidden": [4, 8],
            "model.cell": ("rnn_tanh", "gru"),
            "train.lr": [0.001, 0.1],
            "model.bidirectional": [True, False],
        },
    )
    assert plan.space["model.hidden"].choices == (4, 8)
    assert plan.space["model.cell"].choices == ("rnn_tanh", "gru")
    assert plan.space["train.lr"].choices == (0.001, 0.1)
    assert plan.space["model.bidirectional"].choices == (True, False)
    # the same study as --param model.hidden=4,8: a list and its SPEC are one sweep
    cli_plan = sw.plan_sweep("hihell", space=["model.hidden=4,8"])
    assert plan.space["model.hidden"].spec == cli_plan.space["model.hidden"].spec == "4,8"
    path = tmp_path / "lists.toml"  # a TOML array in a sweep file's [space] too
    path.write_text('preset = "hihell"\n[space]\n"model.hidden" = [4, 8]\n')
    assert sw.plan_sweep(definition=str(path)).space["model.hidden"].spec == "4,8"


# -- 5. the base config's data, before the first trial ---------------------------------------


def test_a_validation_split_larger_than_the_training_slice_is_found_before_trial_0(
    capsys, data_dir, tmp_path
):
    argv = ["sweep", "--sweep", "ex3-rnn", "--set", "data.train_limit=2000", "--no-baseline"]
    argv += ["--param", "train.iters=int:10:20:10", "--trials", "1"]
    argv += ["--runs-dir", str(tmp_path), "--data-dir", str(data_dir)]
    err, out = error_and_output(capsys, argv)
    assert "sweep 'ex3-rnn', before any trial: data.validation=5000 leaves no training" in err
    assert "use a smaller validation split" in err
    assert "trial #0" not in err and out == ""  # not even the header
    assert not (tmp_path / "sweeps").exists() and not (tmp_path / "rnnlab.db").exists()


def test_missing_data_is_found_before_trial_0(capsys, tmp_path):
    argv = ["sweep", "--preset", "sheet-rnn", "--param", "train.lr=0.01,0.1", "--trials", "1"]
    argv += ["--runs-dir", str(tmp_path / "runs"), "--data-dir", str(tmp_path / "nodata")]
    err, out = error_and_output(capsys, argv)
    assert "before any trial: mnist data not found in" in err and out == ""
    with pytest.raises(DataError, match="before any trial"):
        sw.sweep(
            "sheet-rnn",
            space={"train.lr": "0.01"},
            data_dir=tmp_path / "nodata",
            runs_dir=tmp_path / "runs",
            verbose=False,
        )


def test_a_base_problem_that_a_swept_value_fixes_is_left_to_the_trials(data_dir, tmp_path):
    # the base batch of 500 is larger than the 270 training images, but 50 is swept too
    overrides = {**QUICK, "data.train_limit": 300, "train.batch_size": 500}
    plan = sw.plan_sweep(
        "sheet-rnn",
        space={"train.batch_size": "50,500"},
        overrides=overrides,
        data_dir=data_dir,
        runs_dir=tmp_path,
    )
    check_base_data(plan)  # no error: trials with batch 50 can train
    fixed = sw.plan_sweep(
        "sheet-rnn",
        space={"train.lr": "0.01,0.1"},
        overrides=overrides,
        data_dir=data_dir,
        runs_dir=tmp_path,
    )
    with pytest.raises(ConfigError, match="before any trial: train.batch_size=500 is larger"):
        check_base_data(fixed)


# -- 6. bounds too large, the study's files ---------------------------------------------------


@pytest.mark.parametrize(
    "param, shown",
    [
        ("train.iters=int:1:99999999999999999999999", "99999999999999999999999 is too large"),
        ("train.iters=1,99999999999999999999999", "99999999999999999999999 is too large"),
        ("train.iters=int:1:1e23", "1e23 is too large"),  # as written, not float-rounded
        ("train.iters=int:-99999999999999999999999:1", "is too small for train.iters"),
    ],
)
def test_a_too_large_bound_is_quoted_as_written_with_the_limit(capsys, tmp_path, param, shown):
    argv = ["sweep", "--preset", "hihell", "--param", param, "--runs-dir", str(tmp_path)]
    err = one_line_error(capsys, argv)
    assert shown in err and "99999999999999991611392" not in err
    assert "2**63-1" in err and "9223372036854775807" in err


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_corrupt_study_file_is_named_with_the_fix(capsys, tmp_path, dry_run):
    folder = tmp_path / "sweeps" / "hihell"
    folder.mkdir(parents=True)
    (folder / "optuna.db").write_text("garbage, not a database\n")
    argv = [*HIHELL, "--trials", "1", "--runs-dir", str(tmp_path)]
    err = one_line_error(capsys, argv + (["--dry-run"] if dry_run else []))
    assert f"study file {(folder / 'optuna.db').resolve()} is not an Optuna study" in err
    assert "move it aside" in err and "--storage" not in err
    given = f"sqlite:///{(folder / 'optuna.db').resolve()}"
    err = one_line_error(capsys, [*argv, "--storage", given, "--study", "other"])
    assert "is not an Optuna study" in err and "give --storage another file" in err
    if not dry_run:  # an SQLite header over a damaged body: found when the study is opened
        (folder / "optuna.db").write_bytes(b"SQLite format 3\x00" + b"\x07" * 2000)
        err = one_line_error(capsys, argv)
        assert f"cannot open the study file {(folder / 'optuna.db').resolve()}" in err
        assert "move it aside" in err and "--storage" not in err


def test_sweep_json_that_is_a_folder_is_refused_before_any_trial(capsys, tmp_path):
    folder = tmp_path / "sweeps" / "hihell"
    (folder / "sweep.json").mkdir(parents=True)
    err, out = error_and_output(capsys, [*HIHELL, "--trials", "1", "--runs-dir", str(tmp_path)])
    assert f"{folder / 'sweep.json'} is a folder, where the sweep writes" in err
    assert "move it aside, or choose another --study NAME" in err
    assert "Trial" not in out and not (tmp_path / "rnnlab.db").exists()
