"""The Python API's arguments: wrong types and forms are one-line rnnlab errors naming the
argument, never a TypeError from deep inside; and the functions accept what their signatures
promise (a RunConfig or dict where a preset name goes, a range where a list goes)."""

from __future__ import annotations

from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool

import pytest

import rnnlab
from rnnlab import api
from rnnlab.errors import ConfigError, RnnlabError
from rnnlab.experiments.compare import workers
from tests.conftest import QUICK

TINY = {**QUICK, "model.hidden": 8}


@pytest.fixture(scope="module")
def hihell_checkpoint(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    return api.train(
        "hihell", overrides={"train.iters": 2}, runs_dir=runs, verbose=False
    ).checkpoint


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: rnnlab.make_config(5), "config must be a preset name, a TOML file path"),
        (lambda: rnnlab.train(5), "config must be a preset name"),
        (lambda: rnnlab.inspect(5), "target must be a preset name"),
        (lambda: rnnlab.inspect(None), "target must be a preset name"),
        (lambda: rnnlab.evaluate(None), "checkpoint must be a checkpoint path, .* got None"),
        (lambda: rnnlab.sample(None), "checkpoint must be a checkpoint path"),
        (lambda: rnnlab.plan_sweep(5, space=["train.lr=0.1,0.2"]), "config must be a preset"),
        (lambda: rnnlab.make_config("seed-c", {5: 1}), "overrides must be a dict such as"),
        (lambda: rnnlab.make_config("seed-c", 5), "overrides must be a dict such as"),
        (lambda: rnnlab.make_config("seed-c", "train.iters=5"), "overrides must be a dict"),
        (lambda: rnnlab.train("seed-c", runs_dir=5), "runs_dir must be a folder path"),
        (lambda: rnnlab.train("seed-c", save=5), "save must be a file path"),
        (lambda: rnnlab.train(resume=5), "resume must be a checkpoint path"),
        (lambda: rnnlab.train("seed-c", on_evaluate=5), "on_evaluate must be a function"),
        (lambda: rnnlab.runs(name=5), "name must be a name"),
        (lambda: rnnlab.runs(runs_dir=5), "runs_dir must be a folder path"),
        (lambda: rnnlab.run_details(1, 5), "runs_dir must be a folder path"),
        (lambda: rnnlab.report(group=5), "group must be a group name"),
        (lambda: rnnlab.report(out=5), "out must be a path"),
        (lambda: rnnlab.download(None), "datasets must be a name or a list of names"),
        (lambda: rnnlab.download(5), "datasets must be a name or a list of names"),
        (lambda: rnnlab.download("mnist", data_dir=5), "data_dir must be a folder path"),
        (lambda: rnnlab.plan_comparison("hihell", name=5), "name must be a name"),
        (lambda: rnnlab.plan_comparison("hihell", runs_dir=5), "runs_dir must be a folder"),
        (lambda: rnnlab.make_config("/"), "/ is a folder; give a preset name or a config"),
    ],
)
def test_wrong_types_are_one_line_errors(call, message):
    with pytest.raises(RnnlabError, match=message) as caught:
        call()
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "call",
    [
        lambda o: rnnlab.make_config("hihell", o),
        lambda o: rnnlab.plan_comparison("hihell", overrides=o),
        lambda o: rnnlab.plan_sweep("hihell", space={"model.hidden": [8, 16]}, overrides=o),
    ],
    ids=["make_config", "plan_comparison", "plan_sweep"],
)
def test_a_field_twice_or_both_lengths_are_refused_everywhere(call, tmp_path):
    with pytest.raises(ConfigError, match="give train.iters or train.epochs, not both"):
        call({"train.iters": 5, "train.epochs": 1})
    with pytest.raises(ConfigError, match="train.iters is given twice"):
        call(["train.iters=5", "train.iters=6"])


def test_a_config_in_hand_goes_where_a_preset_name_goes():
    cfg = rnnlab.make_config("hihell", {"model.hidden": 12})
    plan = rnnlab.plan_comparison(cfg, grid={"model.layers": [1, 2]})
    assert plan.name == "hihell" and plan.source == "the given config"
    assert [r.config.model.hidden for r in plan.runs] == [12, 12]
    plan = rnnlab.plan_comparison({**cfg.to_dict(), "name": "mine"}, seeds=range(2))
    assert plan.name == "mine" and len(plan.runs) == 2
    by_name = rnnlab.inspect("hihell", overrides={"model.hidden": 12})
    assert rnnlab.inspect(cfg)["total"] == by_name["total"]
    assert rnnlab.inspect(cfg.to_dict())["total"] == by_name["total"]
    sweep = rnnlab.plan_sweep("hihell", space={"model.hidden": range(8, 10)})
    assert "model.hidden in {8, 9}" in "\n".join(sweep.describe())


def test_load_checks_the_task_name_and_what_read_data_false_can_do(hihell_checkpoint):
    with pytest.raises(ConfigError, match="unknown task 'nope'"):
        api.load(hihell_checkpoint, task_name="nope")
    with pytest.raises(ConfigError, match="read_data=False scores pictures with a classifier"):
        api.load(hihell_checkpoint, read_data=False)


def test_an_unknown_task_is_said_alike_by_runs_and_report(tmp_path):
    from rnnlab.results.store import ResultsStore

    ResultsStore(tmp_path).create_run(name="x", task="classify", config={}, status="completed")
    for call in (lambda: rnnlab.runs(tmp_path, task="nope"),
                 lambda: rnnlab.report(task="nope", runs_dir=tmp_path)):  # fmt: skip
        with pytest.raises(ConfigError, match="unknown task 'nope'; choose one of"):
            call()
    with pytest.raises(ConfigError, match="names more than"):
        rnnlab.report(runs=range(1, 2**70), runs_dir=tmp_path)


def test_on_evaluate_that_is_not_a_function_leaves_no_run(tmp_path):
    with pytest.raises(ConfigError, match="on_evaluate must be a function"):
        api.train("hihell", on_evaluate=5, runs_dir=tmp_path, verbose=False)
    assert not (tmp_path / "rnnlab.db").exists()


def test_compare_sizes_a_text_model_from_its_data_dir(data_dir, monkeypatch, tmp_path):
    monkeypatch.delenv("RNNLAB_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no user cache to fall back on
    plan = rnnlab.plan_comparison("charlm-tiny", data_dir=data_dir, runs_dir=tmp_path)
    (entry,) = plan.to_dict()["configurations"]
    assert entry["parameters"] == rnnlab.inspect("charlm-tiny", data_dir=data_dir)["total"]


def test_a_broken_worker_pool_is_one_line(data_dir, tmp_path, monkeypatch):
    class Broken:
        def __init__(self, *args, **kwargs):
            pass

        def submit(self, *args, **kwargs):
            future = Future()
            future.set_exception(BrokenProcessPool("a child process terminated abruptly"))
            return future

        def shutdown(self, *args, **kwargs):
            pass

    monkeypatch.setattr(workers, "ProcessPoolExecutor", Broken)
    with pytest.raises(RnnlabError, match='outside `if __name__ == "__main__":`') as caught:
        rnnlab.compare("seed-c", seeds="0-1", jobs=2, overrides=TINY, data_dir=data_dir,
                       runs_dir=tmp_path, verbose=False)  # fmt: skip
    assert "run it again to continue" in str(caught.value)


def test_the_package_lists_its_lazy_names():
    assert {"train", "compare", "plan_comparison", "run_details"} <= set(dir(rnnlab))
    assert "status" in rnnlab.RunResult.__doc__


def test_a_folder_or_file_named_like_a_preset_does_not_hide_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "seed-c").mkdir()
    (tmp_path / "gru").write_text("not a config", encoding="utf-8")
    assert rnnlab.inspect("seed-c")["source"] == "preset seed-c"
    assert rnnlab.make_config("gru").model.cell == "gru"


def test_a_plan_reads_an_old_store_without_changing_it(tmp_path):
    import sqlite3

    from rnnlab.results.store import ResultsStore

    ResultsStore(tmp_path).create_run(name="x", task="hihell", config={}, status="running",
                                      owner="nohost:1")  # fmt: skip
    with sqlite3.connect(tmp_path / "rnnlab.db") as db:
        db.execute("ALTER TABLE runs DROP COLUMN resumes")
    before = (tmp_path / "rnnlab.db").read_bytes()
    rnnlab.plan_comparison("hihell", runs_dir=tmp_path)
    assert (tmp_path / "rnnlab.db").read_bytes() == before  # no column added, nothing settled


def test_compare_dry_run_refuses_what_the_comparison_would(capsys, data_dir, tmp_path):
    from tests.conftest import one_line_error

    argv = ["compare", "--preset", "charlm-tiny", "--set", "data.seq_len=100000000", "--dry-run"]
    err = one_line_error(capsys, [*argv, "--runs-dir", str(tmp_path), "--data-dir", str(data_dir)])
    assert "too short" in err


def test_compare_dry_run_reads_the_data_dir_it_is_given(capsys, data_dir, tmp_path, monkeypatch):
    from rnnlab.cli import main

    monkeypatch.delenv("RNNLAB_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    argv = ["compare", "--preset", "charlm-tiny", "--data-dir", str(data_dir), "--dry-run"]
    assert main([*argv, "--runs-dir", str(tmp_path)]) == 0
    size = rnnlab.inspect("charlm-tiny", data_dir=data_dir)["total"]
    assert f"{size:,} parameters" in capsys.readouterr().out


def test_ranges_and_iterables_where_lists_go(tmp_path):
    from rnnlab.results.store import ResultsStore

    ResultsStore(tmp_path)
    with pytest.raises(ConfigError, match="names more than"):
        rnnlab.report(runs=range(2**70, 0, -1), runs_dir=tmp_path)
    with pytest.raises(RnnlabError, match="unknown dataset 'nope'"):
        rnnlab.download(name for name in ["nope"])  # any iterable of names, checked first
    with pytest.raises(ConfigError, match="a run id is a whole number"):
        rnnlab.run_details(0, tmp_path)
    import numpy as np

    with pytest.raises(ConfigError, match="no run 3 in"):
        rnnlab.run_details(np.int64(3), tmp_path)
