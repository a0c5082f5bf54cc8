"""rnnlab sweep, found in an audit: repeated parameters, the data the objective is measured
on, the dry run of a continued study, a stale best.toml and workers racing to open a study."""

from __future__ import annotations

import pytest

from rnnlab import api, cli
from rnnlab.config.files import load_preset
from rnnlab.experiments import sweep as sw
from rnnlab.experiments.sweep.results import write_files
from rnnlab.experiments.sweep.space import space_size
from rnnlab.experiments.sweep.study import import_optuna, open_study
from rnnlab.tasks import TASKS, get_task_class
from tests.conftest import QUICK, one_line_error

optuna = pytest.importorskip("optuna")

SMALL = {**QUICK, "model.hidden": 16, "data.validation": 200}


def _sweep(tmp_path, data_dir, space, **kwargs):
    options = {"overrides": SMALL, "runs_dir": tmp_path, "data_dir": data_dir, "verbose": False}
    return sw.sweep("sheet-rnn", space=space, **{**options, **kwargs})


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_repeated_parameters_reuse_a_result_and_a_tried_space_ends_the_sweep(
    data_dir, tmp_path, sampler, capsys
):
    # 4 combinations, 12 trials: samplers draw repeats, which used to train the same run again
    space = {"train.optimizer": "sgd,adam", "train.batch_size": "25,50"}
    result = _sweep(tmp_path, data_dir, space, trials=12, sampler=sampler, study="d", verbose=True)
    out = capsys.readouterr().out
    runs = api.runs(tmp_path, group="sweep:d")
    assert len(runs) == 4  # one run per combination, none trained twice
    trained = [t for t in result.trials if t.duplicate_of is None]
    assert sorted(t.run_id for t in trained) == sorted(r["id"] for r in runs)
    for t in result.trials:
        if t.duplicate_of is not None:
            first = result.trials[t.duplicate_of]
            assert (t.params, t.value, t.run_id) == (first.params, first.value, first.run_id)
            assert t.state == first.state == "complete" and "not trained again" in t.note
    assert "Space: 4 combinations, fewer than 12 trials" in out
    assert "All 4 combinations have been tried; no new trial is started" in out
    assert len(result.trials) < 12 and result.finished == len(result.trials)
    # the table shows each combination once
    text = "\n".join(sw.summary_lines(result))
    assert "Top 4 of 4 by val_acc" in text


def test_a_space_of_one_value_trains_once(data_dir, tmp_path):
    result = _sweep(tmp_path, data_dir, {"train.lr": "0.01"}, trials=3, study="one")
    assert len(result.trials) == 1 and len(api.runs(tmp_path, group="sweep:one")) == 1


def test_the_size_of_a_space():
    base = api.make_config("sheet-rnn")
    finite = sw.parse_space(
        {"train.iters": "int:1000:5000:1000", "train.optimizer": "sgd,adam", "seed": "int:0:2"},
        base,
    )
    assert space_size(finite) == 5 * 2 * 3
    assert space_size(sw.parse_space({"train.lr": "float:0.1:0.5:0.1"}, base)) == 5
    assert space_size(sw.parse_space({"train.lr": "log:1e-4:1e-1"}, base)) is None


@pytest.mark.parametrize(
    "preset, param",
    [
        ("sheet-rnn", "data.validation=100,200"),
        ("sheet-rnn", "data.train_limit=1000,2000"),
        ("sheet-rnn", "data.dataset=mnist,fashion"),
        ("pos-tiny", "data.dev_limit=10,20"),
        ("charlm-tiny", "data.val_fraction=0.1,0.2"),
    ],
)
def test_the_data_the_objective_is_measured_on_cannot_be_swept(capsys, tmp_path, preset, param):
    # trials scored on different validation sets cannot be ranked against each other
    argv = ["sweep", "--preset", preset, "--param", param, "--runs-dir", str(tmp_path)]
    err = one_line_error(capsys, argv)
    field = param.split("=")[0]
    assert f"--param {field}: {field} chooses the data each trial is scored on" in err
    assert f"--set {field}=VALUE" in err
    assert not (tmp_path / "sweeps").exists()


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_scoring_data_field_a_task_declares_is_one_of_its_config_fields(task):
    # a misspelt name would leave that field sweepable without a word
    from rnnlab.experiments.sweep.space import sweepable_type

    preset = {"classify": "sheet-rnn", "charlm": "charlm-tiny", "tagger": "pos-tiny"}.get(
        task, {"seq2seq": "seq2seq-add", "hihell": "hihell"}.get(task)
    )
    base = load_preset(preset)
    assert base.task == task
    fields = get_task_class(task).scoring_data_fields
    assert fields
    for field in fields:
        sweepable_type(base, field)  # raises ConfigError for an unknown field


def test_a_dry_run_of_a_study_holding_only_an_interrupted_trial_queues_no_baseline(
    capsys, tmp_path
):
    folder = tmp_path / "sweeps" / "b"
    folder.mkdir(parents=True)
    study = optuna.create_study(
        study_name="b", storage=f"sqlite:///{folder / 'optuna.db'}", direction="maximize"
    )
    trial = study.ask()
    trial.suggest_categorical("train.lr", [0.001, 0.01])
    trial.set_user_attr("status", "interrupted")
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    argv = ["sweep", "--preset", "sheet-rnn", "--param", "train.lr=0.001,0.01", "--baseline"]
    argv += ["--study", "b", "--runs-dir", str(tmp_path), "--dry-run"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    # the real call queues the baseline only in a study holding no trial at all
    assert "Continues the saved study: 0 of" in out and "Baseline:" not in out


def test_a_best_toml_of_an_earlier_study_of_the_name_is_removed(tmp_path):
    plan = sw.plan_sweep("sheet-rnn", space={"train.lr": "0.01,0.1"}, runs_dir=tmp_path)
    plan.folder.mkdir(parents=True)
    stale = plan.folder / "best.toml"
    stale.write_text("# the best of a study whose optuna.db was moved aside\n")
    study = optuna.create_study(direction="maximize")  # a new study: nothing complete yet
    result = write_files(optuna, study, plan)
    assert not stale.exists() and "best" not in result.paths


def test_a_worker_that_loses_the_race_to_create_the_study_tables_opens_it(tmp_path, monkeypatch):
    from sqlalchemy.exc import IntegrityError

    plan = sw.plan_sweep("sheet-rnn", space={"train.lr": "0.01,0.1"}, runs_dir=tmp_path)
    plan.folder.mkdir(parents=True)
    real = optuna.storages.RDBStorage
    calls = []

    class Racing(real):
        def __init__(self, *args, **kwargs):
            # what a second worker started at the same moment gets from Optuna's tables
            calls.append(1)
            if len(calls) == 1:
                raise IntegrityError("INSERT INTO alembic_version", {}, Exception("UNIQUE"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(optuna.storages, "RDBStorage", Racing)
    study = open_study(import_optuna(), plan)
    assert study.study_name == plan.study and len(calls) == 2
