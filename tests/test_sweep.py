"""rnnlab sweep: Optuna studies of tiny real-MNIST runs (a trial takes well under a second).

Each trial is an ordinary run in the results store; what is checked here is what a sweep
adds: the search space and its errors, the objective (validation, never test), best.toml,
reproducibility, resume after Ctrl-C or a killed process, pruning, divergence and the grid.
"""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from rnnlab import api, cli
from rnnlab.errors import ConfigError
from rnnlab.experiments import sweep as sw
from rnnlab.results.store import ResultsStore
from rnnlab.tasks.classify import ClassifyTask
from tests.conftest import QUICK, one_line_error, press_ctrl_c

optuna = pytest.importorskip("optuna")

SMALL = {**QUICK, "model.hidden": 16, "data.validation": 200}
SPACE = {"train.lr": "log:1e-3:3e-2", "train.optimizer": "sgd,adam"}
# The same settings as command-line flags.
SMALL_FLAGS = [
    "--preset",
    "sheet-rnn",
    "--iters",
    "20",
    "--eval-every",
    "10",
    "--batch-size",
    "50",
    "--hidden",
    "16",
    "--set",
    "data.train_limit=1000",
    "--set",
    "data.test_limit=200",
    "--set",
    "data.validation=200",
]


def run(tmp_path, data_dir, source="sheet-rnn", **kwargs):
    options = {
        "space": SPACE,
        "overrides": SMALL,
        "sampler": "random",
        "runs_dir": tmp_path,
        "data_dir": data_dir,
        "verbose": False,
    }
    options.update(kwargs)
    return sw.sweep(source, **options)


def group_runs(tmp_path, study):
    return api.runs(tmp_path, group=f"sweep:{study}")


def test_random_sweep_finds_a_best_combination_that_reruns(data_dir, tmp_path):
    result = run(tmp_path, data_dir, trials=4, study="s")
    assert [t.number for t in result.trials] == [0, 1, 2, 3]
    assert all(t.state == "complete" for t in result.trials)
    values = [t.value for t in result.trials]
    assert result.best_value == max(values) and result.direction == "maximize"
    best = next(t for t in result.trials if t.number == result.best_trial)
    assert result.best_params == best.params and result.best_run_id == best.run_id
    assert result.best_test_metrics["test_acc"] == best.metrics["test_acc"]

    # every trial is an ordinary run in the store, filed under the sweep, with its parameters
    runs = {r["id"]: r for r in group_runs(tmp_path, "s")}
    assert sorted(runs) == sorted(t.run_id for t in result.trials)
    for t in result.trials:
        config = runs[t.run_id]["config"]
        assert config["train"]["lr"] == t.params["train.lr"]
        assert config["train"]["optimizer"] == t.params["train.optimizer"]
        assert runs[t.run_id]["status"] == "completed"
        # the objective is the validation accuracy of the run's last evaluation, not test
        assert t.value == runs[t.run_id]["final_metrics"]["val_acc"]
    assert any(t.metrics["val_acc"] != t.metrics["test_acc"] for t in result.trials)

    # best.toml is a full config that re-runs the best combination, figure for figure
    cfg = api.make_config(result.paths["best"])
    assert cfg.train.lr == result.best_params["train.lr"]
    assert cfg.train.optimizer == result.best_params["train.optimizer"]
    again = api.train(cfg, data_dir=data_dir, runs_dir=tmp_path / "again", verbose=False)
    assert again.metrics["val_acc"] == pytest.approx(result.best_value)

    summary = json.loads((tmp_path / "sweeps" / "s" / "sweep.json").read_text())
    assert summary["metric"] == "val_acc" and summary["best_trial"] == result.best_trial
    assert summary["space"] == SPACE
    assert [t["run_id"] for t in summary["trials"]] == [t.run_id for t in result.trials]
    assert all("test_acc" in t["test_metrics"] and t["duration"] > 0 for t in summary["trials"])
    text = "\n".join(sw.summary_lines(result))
    assert f"Best combination: trial #{result.best_trial}" in text and "best.toml" in text


def test_same_seed_same_trials_and_continuing_runs_only_the_missing(data_dir, tmp_path):
    a = run(tmp_path, data_dir, trials=2, study="a", sampler_seed=7)
    b = run(tmp_path, data_dir, trials=3, study="b", sampler_seed=7)
    c = run(tmp_path, data_dir, trials=1, study="c", sampler_seed=8)
    assert [(t.params, t.value) for t in a.trials] == [(t.params, t.value) for t in b.trials[:2]]
    assert c.trials[0].params != a.trials[0].params
    assert b.trials[2].params not in [t.params for t in b.trials[:2]]

    more = run(tmp_path, data_dir, trials=3, study="a", sampler_seed=7)
    assert len(more.trials) == 3 and more.finished == 3
    for old, new in zip(a.trials, more.trials):
        assert (old.number, old.params, old.value, old.run_id) == (
            new.number,
            new.params,
            new.value,
            new.run_id,
        )
    # 2 trials and then 1 more draw what 3 trials in one call draw
    assert more.trials[2].params == b.trials[2].params
    assert len(group_runs(tmp_path, "a")) == 3

    same = run(tmp_path, data_dir, trials=3, study="a", sampler_seed=7)
    assert len(same.trials) == 3 and len(group_runs(tmp_path, "a")) == 3  # nothing re-run

    # continuing a study with another space or config would mix incomparable trials
    with pytest.raises(ConfigError, match="study 'a' .* other settings .*train.lr.*--study"):
        run(tmp_path, data_dir, trials=4, study="a", space={"train.lr": "log:1e-4:1e-1"})
    with pytest.raises(ConfigError, match="model.hidden: 16 there, 8 now"):
        run(tmp_path, data_dir, trials=4, study="a", overrides={**SMALL, "model.hidden": 8})


def test_ctrl_c_mid_trial_then_the_same_command_resumes_that_trial_first(
    data_dir, tmp_path, monkeypatch, capsys
):
    original = ClassifyTask.batch

    def ctrl_c_in_trial_1(self, iteration):
        if self.config.name == "s-t001" and iteration == 15:
            press_ctrl_c()
        return original(self, iteration)

    monkeypatch.setattr(ClassifyTask, "batch", ctrl_c_in_trial_1)
    argv = ["sweep", *SMALL_FLAGS, "--param", "train.lr=log:1e-3:3e-2", "--trials", "3"]
    argv += ["--sampler", "random", "--study", "s", "--runs-dir", str(tmp_path)]
    argv += ["--data-dir", str(data_dir), "--quiet"]
    assert cli.main(argv) == 130
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "interrupted in trial #1" in err and "run the same command again" in err
    (run_1,) = [r for r in group_runs(tmp_path, "s") if r["name"] == "s-t001"]
    assert run_1["status"] == "interrupted" and run_1["iteration"] == 16
    summary = json.loads((tmp_path / "sweeps" / "s" / "sweep.json").read_text())
    states = [(t["number"], t["state"]) for t in summary["trials"]]
    assert states == [(0, "complete"), (1, "interrupted")]
    interrupted_params = summary["trials"][1]["params"]
    assert summary["trials"][1]["checkpoint"] == run_1["checkpoint"]

    monkeypatch.setattr(ClassifyTask, "batch", original)
    assert cli.main(argv) == 0
    capsys.readouterr()
    result = run(tmp_path, data_dir, trials=3, study="s", space={"train.lr": "log:1e-3:3e-2"})
    by_number = {t.number: t for t in result.trials}
    retry = by_number[2]  # the first trial of the second call
    assert retry.retry_of == 1 and retry.params == interrupted_params
    assert retry.state == "complete" and retry.run_id == run_1["id"]  # the same run continued
    assert [t.state for t in result.trials] == ["complete", "interrupted", "complete", "complete"]
    assert result.finished == 3
    history = ResultsStore(tmp_path).metrics(run_1["id"])
    assert [h["iteration"] for h in history] == [10, 20]  # 10 from before the interruption
    (done,) = [r for r in group_runs(tmp_path, "s") if r["id"] == run_1["id"]]
    assert done["status"] == "completed" and done["iteration"] == 20
    assert len(group_runs(tmp_path, "s")) == 3  # trials 0 and 3, and trial 1's run resumed


def test_a_trial_left_running_by_a_killed_process_is_tried_again(data_dir, tmp_path):
    first = run(tmp_path, data_dir, trials=1, study="k")
    # what a process killed in its second trial leaves behind: a RUNNING trial of a dead pid
    dead = subprocess.Popen(["true"])
    dead.wait()
    study = optuna.load_study(
        study_name="k", storage=f"sqlite:///{tmp_path / 'sweeps' / 'k' / 'optuna.db'}"
    )
    trial = study.ask()
    lr = trial.suggest_float("train.lr", 1e-3, 3e-2, log=True)
    optimizer = trial.suggest_categorical("train.optimizer", ["sgd", "adam"])
    trial.set_user_attr("host", socket.gethostname())
    trial.set_user_attr("pid", dead.pid)
    trial.set_user_attr("run_name", "k-t001")

    result = run(tmp_path, data_dir, trials=2, study="k")
    states = {t.number: t.state for t in result.trials}
    assert states == {0: "complete", 1: "interrupted", 2: "complete"}
    assert result.trials[2].retry_of == 1
    assert result.trials[2].params == {"train.lr": lr, "train.optimizer": optimizer}
    assert result.trials[0].params == first.trials[0].params and result.finished == 2


def test_timeout_starts_no_new_trial_once_spent(data_dir, tmp_path):
    result = run(tmp_path, data_dir, trials=5, study="t", timeout=0.001)
    assert len(result.trials) == 1 and result.target == 5  # the first trial always runs
    assert len(group_runs(tmp_path, "t")) == 1


def test_pruning_stops_a_hopeless_trial(data_dir, tmp_path):
    over = {**SMALL, "train.iters": 40}
    space = {"train.lr": "log:1e-6:1e-1"}
    # the order is set by queueing the trials in the study before the sweep opens it
    folder = tmp_path / "sweeps" / "p"
    folder.mkdir(parents=True)
    study = optuna.create_study(
        study_name="p", storage=f"sqlite:///{folder / 'optuna.db'}", direction="maximize"
    )
    for lr in (0.01, 0.02, 0.005, 1e-6):
        study.enqueue_trial({"train.lr": lr})
    result = run(tmp_path, data_dir, trials=4, study="p", space=space, overrides=over, prune=True)
    states = [(t.params["train.lr"], t.state) for t in result.trials]
    assert states == [(0.01, "complete"), (0.02, "complete"), (0.005, "complete"), (1e-6, "pruned")]
    hopeless = result.trials[3]
    assert hopeless.note == "pruned at iteration 20"  # not before 2 evaluations (warm-up)
    run_row = next(r for r in group_runs(tmp_path, "p") if r["id"] == hopeless.run_id)
    assert run_row["status"] == "stopped" and run_row["iteration"] == 20
    assert result.finished == 4 and result.best_params == {"train.lr": 0.01}


def test_grid_enumerates_every_combination_and_a_diverged_one_does_not_stop_it(
    data_dir, tmp_path, monkeypatch, capsys
):
    original = ClassifyTask.loss

    def nan_for_sgd_at_batch_25(self, model, batch, iteration):
        loss, extra = original(self, model, batch, iteration)
        t = self.config.train
        diverge = t.optimizer == "sgd" and t.batch_size == 25 and iteration >= 12
        return (loss * float("nan") if diverge else loss), extra

    monkeypatch.setattr(ClassifyTask, "loss", nan_for_sgd_at_batch_25)
    space = {"train.batch_size": "25,50", "train.optimizer": "sgd,adam"}
    result = run(
        tmp_path, data_dir, study="g", space=space, sampler="grid", trials=10, verbose=True
    )
    out = capsys.readouterr().out
    combos = sorted(
        (t.params["train.batch_size"], t.params["train.optimizer"]) for t in result.trials
    )
    assert combos == [(25, "adam"), (25, "sgd"), (50, "adam"), (50, "sgd")]
    state = {
        (t.params["train.batch_size"], t.params["train.optimizer"]): t.state for t in result.trials
    }
    assert state.pop((25, "sgd")) == "diverged"
    assert set(state.values()) == {"complete"} and result.finished == 4
    assert "Grid: 4 combinations, so 4 trials, not 10" in out
    assert "diverged: loss became nan at iteration 13" in out
    assert "Trial 4/4" in out and "Best combination" in out
    text = (tmp_path / "sweeps" / "g" / "sweep.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in sweep.json: not strict JSON"))
    with pytest.raises(ConfigError, match="grid enumerates lists of values.*train.lr is a range"):
        run(tmp_path, data_dir, study="g2", space={"train.lr": "log:1e-3:1e-1"}, sampler="grid")


def test_cli_sweep_prints_a_line_per_trial_and_the_best(data_dir, tmp_path, capsys):
    argv = ["sweep", *SMALL_FLAGS, "--param", "train.lr=log:1e-3:3e-2", "--param"]
    argv += ["train.optimizer=sgd,adam", "--trials", "2", "--sampler", "random"]
    argv += ["--runs-dir", str(tmp_path), "--data-dir", str(data_dir)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "Objective: maximize val_acc" in out and "never tuned on" in out
    assert "Trial 1/2 (#0): lr=" in out and "Trial 2/2 (#1)" in out
    assert "Best combination: trial #" in out and "rnnlab train --config" in out
    # the printed commands find the sweep's runs folder, not ./runs
    assert f"rnnlab runs --group sweep:sheet-rnn --runs-dir {tmp_path};" in out
    assert f"best.toml --runs-dir {tmp_path}\n" in out
    # again with --json: the study has its 2 trials, so nothing runs and JSON is printed
    assert cli.main([*argv, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["study"] == "sheet-rnn" and len(summary["trials"]) == 2
    assert summary["finished"] == 2 and summary["best_value"] is not None
    # --dry-run reads the saved study as the real call would: its trials, its settings
    assert cli.main([*argv, "--dry-run"]) == 0
    assert "Continues the saved study: 2 of 2 trials done already" in capsys.readouterr().out
    assert cli.main([*argv, "--dry-run", "--json"]) == 0  # the same plan as one JSON document
    plan = json.loads(capsys.readouterr().out)
    assert plan["dry_run"] and plan["done"] == 2 and plan["baseline"] is None
    other = [a.replace("sgd,adam", "sgd") for a in argv]
    assert cli.main([*other, "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert "study 'sheet-rnn'" in err and "was run with other settings" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "param, expected",
    [
        ("train.lr", "expects FIELD=SPEC"),
        ("train.nope=1,2", "unknown field 'nope' in [train]; valid fields: iters"),
        ("lr=log:1e-4:1e-1", "unknown setting; use SECTION.FIELD"),
        ("train.lr.max=log:1e-4:1e-1", "--param train.lr.max: unknown setting 'train.lr.max'"),
        ("task=classify,charlm", "'task' cannot be swept"),
        ("train.lr=log:1e-4", "expected log:LOW:HIGH, e.g. log:1e-4:1e-1"),
        ("train.lr=log:0.1:0.01", "LOW must be below HIGH"),
        ("train.lr=float:0.01:0.01", "LOW must be below HIGH"),
        ("train.lr=log:0:0.1", "a log range needs LOW > 0"),
        ("train.lr=float:0:0.1", "train.lr must be a positive number, got 0.0"),
        ("train.lr=float:0.001:abc", "'abc' is not a number"),
        ("train.lr=int:1:3", "train.lr is a float field; use float:LOW:HIGH"),
        ("train.lr=1e-4:1e-1", "unknown range form; use log:LOW:HIGH"),
        ("train.iters=float:1000:6000", "integer field; use int:LOW:HIGH"),
        ("train.iters=int:1000:6000:700", "not a whole number of steps of 700"),
        ("train.iters=int:1000:2000.5", "must be whole"),
        ("train.optimizer=", "give the values to try separated by commas"),
        ("train.optimizer=sgd,,adam", "with none empty, e.g. train.optimizer=sgd,adam"),
        ("train.optimizer=sgd,nadam", "unknown optimizer (train.optimizer) 'nadam'"),
        ("train.optimizer=log:1:2", "not a number; list the values to try instead"),
        ("train.batch_size=32,abc", "train.batch_size must be an integer, got 'abc'"),
        ("train.batch_size=32,32", "listed twice"),
    ],
)
def test_every_bad_param_is_one_line_that_names_the_fix(capsys, tmp_path, param, expected):
    argv = ["sweep", "--preset", "sheet-rnn", "--param", param, "--runs-dir", str(tmp_path)]
    err = one_line_error(capsys, argv)
    assert expected in err
    assert not (tmp_path / "sweeps").exists()  # nothing was started


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--metric", "test_acc"], "tunes on validation, never on test"),
        (["--sampler", "bayes"], "unknown sampler 'bayes'; choose one of: tpe, random, grid"),
        (["--trials", "0"], "--trials must be at least 1"),
        (["--study", "a/b"], "study name 'a/b' may hold only"),
        (["--sweep", "ex3-rnn"], "names its own config; drop --preset"),
        (["--param", "train.lr=log:1e-3:1e-1", "--param", "train.lr=0.1"], "given twice"),
        (["--baseline", "--param", "train.lr=log:0.01:0.1"], "train.lr=0.001 is outside"),
    ],
)
def test_bad_sweep_options_are_one_line(capsys, tmp_path, extra, expected):
    argv = ["sweep", "--preset", "sheet-rnn", "--runs-dir", str(tmp_path), *extra]
    if "--param" not in extra:
        argv += ["--param", "train.optimizer=sgd,adam"]
    assert expected in one_line_error(capsys, argv)


def test_no_source_unknown_sweep_and_missing_metric_are_one_line(capsys, data_dir, tmp_path):
    base = ["sweep", "--param", "train.lr=0.01", "--runs-dir", str(tmp_path)]
    assert "say what to sweep: --preset NAME" in one_line_error(capsys, base)
    err = one_line_error(capsys, ["sweep", "--sweep", "nope"])
    assert "unknown sweep 'nope'; shipped sweeps: ex3-lstm, ex3-rnn" in err
    argv = ["sweep", *SMALL_FLAGS, "--param", "train.lr=0.01,0.02", "--metric", "val_bogus"]
    argv += ["--runs-dir", str(tmp_path), "--data-dir", str(data_dir), "--trials", "1"]
    err = one_line_error(capsys, argv)
    assert "--metric val_bogus: classify runs of this config record no such metric" in err
    assert "choose one of: train_loss, val_loss, val_acc, test_loss, test_acc" in err


def test_metric_direction_and_the_validation_split_a_sweep_adds():
    assert sw.metric_direction("val_loss") == "minimize"
    assert sw.metric_direction("val_bpc") == sw.metric_direction("nats_per_char") == "minimize"
    assert sw.metric_direction("val_ppl") == "minimize"
    assert sw.metric_direction("val_acc") == sw.metric_direction("dev_acc") == "maximize"
    plan = sw.plan_sweep("sheet-rnn", space={"train.lr": "0.01,0.1"})
    assert plan.config.data.validation == 5000 and plan.metric == "val_acc"
    assert "data.validation=5000" in "\n".join(plan.describe())
    small = sw.plan_sweep("sheet-rnn", space={"train.lr": "0.01"}, overrides=QUICK)
    assert small.config.data.validation == 100  # a tenth of a 1000-image slice
    loss = sw.plan_sweep("sheet-rnn", space={"train.lr": "0.01"}, metric="val_loss")
    assert loss.direction == "minimize"
    charlm = sw.plan_sweep("charlm-tiny", space={"train.lr": "0.01"})
    assert (charlm.metric, charlm.direction) == ("val_loss", "minimize")
    tagger = sw.plan_sweep("pos-tiny", space={"train.lr": "0.01"})
    assert (tagger.metric, tagger.direction) == ("dev_acc", "maximize")


@pytest.mark.parametrize("name", ["ex3-rnn", "ex3-lstm"])
def test_shipped_sweeps_load_and_validate(name, tmp_path):
    assert name in sw.definition_names()
    definition = sw.load_definition(name)
    assert "min on 2 CPU cores" in definition["description"]
    plan = sw.plan_sweep(definition=name, runs_dir=tmp_path)
    preset = api.make_config(definition["preset"])
    assert plan.study == name and plan.metric == "val_acc" and plan.prune
    assert set(plan.space) == {"train.iters", "train.batch_size", "train.lr", "train.optimizer"}
    assert plan.space["train.optimizer"].choices == ("sgd", "adam")
    assert plan.space["train.batch_size"].choices == (50, 100, 200)
    assert plan.config.data.validation == 5000 and plan.config.model.cell == preset.model.cell
    assert plan.baseline == {
        "train.iters": preset.train.iters,
        "train.batch_size": preset.train.batch_size,
        "train.lr": preset.train.lr,
        "train.optimizer": preset.train.optimizer,
    }
    assert plan.storage == f"sqlite:///{(tmp_path / 'sweeps' / name / 'optuna.db').resolve()}"
    # command-line values win over the definition's
    smaller = sw.plan_sweep(definition=name, trials=3, space={"train.lr": "log:1e-4:1e-2"})
    assert smaller.trials == 3 and smaller.space["train.lr"].high == 1e-2


def test_a_sweep_file_with_an_inline_config(tmp_path):
    path = tmp_path / "my-sweep.toml"
    path.write_text(
        'description = "mine"\ntrials = 3\nsampler = "random"\nmetric = "val_loss"\n'
        '[config]\ntask = "classify"\n[config.model]\ncell = "gru"\nhidden = 32\n'
        '[space]\n"train.lr" = "log:1e-4:1e-2"\n"model.layers" = "1,2"\n'
    )
    plan = sw.plan_sweep(definition=str(path), runs_dir=tmp_path)
    assert plan.study == "my-sweep" and plan.trials == 3 and plan.sampler == "random"
    assert (plan.metric, plan.direction) == ("val_loss", "minimize")
    assert plan.config.model.cell == "gru" and plan.config.model.hidden == 32
    assert plan.space["model.layers"].choices == (1, 2)
    path.write_text('preset = "seed-c"\ntrails = 3\n[space]\n"train.lr" = "0.1"\n')
    with pytest.raises(ConfigError, match="unknown key 'trails'; valid keys: description"):
        sw.plan_sweep(definition=str(path))
    with pytest.raises(ConfigError, match="sweep file nope.toml does not exist"):
        sw.plan_sweep(definition="nope.toml")


def test_cli_lists_and_dry_runs_shipped_sweeps(capsys, tmp_path):
    assert cli.main(["sweep", "--list"]) == 0
    out = capsys.readouterr().out
    assert "ex3-rnn" in out and "ex3-lstm" in out
    assert cli.main(["sweep", "--sweep", "ex3-rnn", "--dry-run", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Sweep 'ex3-rnn' of sweep ex3-rnn (sheet-rnn): 16 trials" in out
    assert "Baseline: the config's own values are tried first" in out
    argv = ["sweep", "--sweep", "ex3-rnn", "--dry-run", "--json", "--runs-dir", str(tmp_path)]
    assert cli.main(argv) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["trials"] == 16 and plan["metric"] == "val_acc" and plan["done"] == 0
    assert plan["space"]["train.lr"] == "log:1e-4:1e-1" and plan["baseline"]["train.iters"] == 3000
    assert plan["config"]["data"]["validation"] == 5000
    assert not (tmp_path / "sweeps").exists()


def test_rnnlab_sweep_is_the_api_and_importing_rnnlab_does_not_load_optuna():
    import sys

    import rnnlab

    assert rnnlab.sweep is sw.sweep
    code = "import rnnlab, rnnlab.cli, sys; print('optuna' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow
def test_ex3_rnn_in_two_calls_beats_the_preset_on_validation(data_dir, tmp_path):
    """The README's sweep: the shipped ex3-rnn run for 8 trials, then continued to its 16, one
    thread per run (21 min here). Trial 0 is the preset itself; the second call runs
    only the 8 missing trials, and the best combination must beat the preset on validation."""
    options = {
        "definition": "ex3-rnn",
        "overrides": {"threads": 1},
        "runs_dir": tmp_path,
        "data_dir": data_dir,
        "verbose": False,
    }
    first = sw.sweep(trials=8, **options)
    result = sw.sweep(**options)
    assert first.finished == 8 and result.finished == 16 and len(result.trials) == 16
    assert [(t.params, t.value) for t in result.trials[:8]] == [
        (t.params, t.value) for t in first.trials
    ]
    baseline = result.trials[0]
    assert baseline.baseline and baseline.params["train.batch_size"] == 100
    assert baseline.state == "complete"
    assert result.best_trial != 0 and result.best_value > baseline.value


def test_a_sweep_says_each_settings_note_its_trials_bring_once(data_dir, tmp_path, capsys):
    # trials train quietly, so "momentum does nothing with adam" was never said in a sweep
    result = run(
        tmp_path, data_dir, study="notes", sampler="grid", trials=4, verbose=True,
        space={"train.optimizer": "sgd,adam", "train.lr": "0.01,0.02"},
        overrides={**SMALL, "train.momentum": 0.9},
    )  # fmt: skip
    out = capsys.readouterr().out
    assert out.count("Note: train.momentum=0.9 does nothing with optimizer adam") == 1
    by_optimizer = {t.params["train.optimizer"]: t.settings_notes for t in result.trials}
    assert by_optimizer["sgd"] == [] and "momentum" in by_optimizer["adam"][0]
    saved = json.loads(Path(result.paths["summary"]).read_text(encoding="utf-8"))
    assert any(t["settings_notes"] for t in saved["trials"])
