"""`rnnlab runs ID` and `rnnlab.run_details`: one recorded run in full, from the store alone."""

from __future__ import annotations

import json
import textwrap

import pytest

import rnnlab
from rnnlab import api
from rnnlab.cli import main
from rnnlab.config import tomllib  # tomli before Python 3.11
from rnnlab.errors import ConfigError
from rnnlab.results.store import ResultsStore
from tests.conftest import QUICK, one_line_error


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    overrides = {**QUICK, "model.hidden": 16, "data.validation": 100}
    api.train("seed-c", overrides=overrides, data_dir=data_dir, runs_dir=runs, verbose=False)
    return runs


def test_details_are_the_listing_row_plus_every_evaluation(trained):
    (listed,) = api.runs(trained)
    details = rnnlab.run_details(1, trained)
    assert {k: v for k, v in details.items() if k != "history"} == listed
    assert [h["iteration"] for h in details["history"]] == [10, 20]  # eval_every 10, 20 iters
    last = details["history"][-1]
    assert {k: last[k] for k in listed["final_metrics"]} == listed["final_metrics"]


def test_the_text_shows_the_run_its_curve_and_a_config_that_reruns_it(trained, capsys):
    assert main(["runs", "1", "--runs-dir", str(trained)]) == 0
    out = capsys.readouterr().out
    head, curve, config = out.split("\n\n", 2)
    assert head.startswith("run 1: seed-c (classify, completed)")
    assert "20/20 iterations" in head and "versions: rnnlab" in head and "checkpoint " in head
    rows = curve.splitlines()
    assert rows[0] == "metrics over time:"
    assert rows[1].split() == ["iteration", "train_loss", "val_loss", "val_acc", "test_loss",
                               "test_acc", "time"]  # fmt: skip
    assert [r.split()[0] for r in rows[2:]] == ["10", "20"]
    assert config.startswith("config:\n")
    toml = textwrap.dedent(config.removeprefix("config:\n"))
    assert api.make_config(tomllib.loads(toml)).to_dict() == api.runs(trained)[0]["config"]


def test_json_holds_the_history(trained, capsys):
    assert main(["runs", "1", "--runs-dir", str(trained), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["id"] == 1 and len(data["history"]) == 2 and "val_acc" in data["history"][0]


def test_a_run_with_no_evaluation_yet_still_shows(tmp_path, capsys):
    store = ResultsStore(tmp_path)
    store.create_run(name="x", task="classify", config={}, status="failed", message="boom")
    assert main(["runs", "1", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "run 1: x (classify, failed)" in out and "note: boom" in out
    assert "metrics over time" not in out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["2"], "no run 2 in"),
        (["0"], "a run id is a whole number, 1 or more (got '0')"),
        (["x"], "a run id is a whole number"),
        (["1", "--task", "classify"], "give a run id or filters (--task), not both"),
        (["99999999999999999999999"], "no run 99999999999999999999999 in"),
    ],
)
def test_bad_ids_are_one_line(trained, capsys, extra, message):
    err = one_line_error(capsys, ["runs", *extra, "--runs-dir", str(trained)])
    assert message in err


def test_no_store_and_api_types(tmp_path):
    with pytest.raises(ConfigError, match="no run 1 in .*rnnlab runs lists"):
        api.run_details(1, tmp_path)
    assert not (tmp_path / "rnnlab.db").exists()  # looking creates nothing
    for bad in (True, "1", 0, 1.0):
        with pytest.raises(ConfigError, match="a run id is a whole number"):
            api.run_details(bad, tmp_path)


def test_speed_is_in_the_tasks_own_unit(tmp_path, capsys):
    store = ResultsStore(tmp_path)
    config = api.make_config("charlm-tiny").to_dict()
    store.create_run(name="lm", task="charlm", config=config, status="completed")
    store.update_run(1, samples_per_sec=10.0)
    assert main(["runs", "1", "--runs-dir", str(tmp_path)]) == 0
    seq_len = config["data"]["seq_len"]
    assert f"{10 * seq_len:,} chars/s" in capsys.readouterr().out


def test_a_stored_config_this_version_cannot_read_is_shown_as_stored(tmp_path, capsys):
    store = ResultsStore(tmp_path)
    config = {"task": "classify", "model": {"removed_field": 1}}
    store.create_run(name="old", task="classify", config=config, status="completed")
    assert main(["runs", "1", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "not a config this rnnlab reads" in out and '"removed_field": 1' in out


def test_an_old_store_gains_the_resumes_column_once_even_when_two_open_it(tmp_path):
    import sqlite3

    from rnnlab.results.store import _add_missing_columns

    ResultsStore(tmp_path)  # the column is there: as if another process had just added it
    db = sqlite3.connect(tmp_path / "rnnlab.db")
    db.row_factory = sqlite3.Row
    seen_before = [{"name": r["name"]} for r in db.execute("PRAGMA table_info(runs)")
                   if r["name"] != "resumes"]  # fmt: skip

    class LookedEarlier:  # this process read the columns before the other one's ALTER
        def execute(self, sql, *args):
            return seen_before if sql.startswith("PRAGMA") else db.execute(sql, *args)

    _add_missing_columns(LookedEarlier())  # no "duplicate column name" error
    db.close()
    run_id = ResultsStore(tmp_path).create_run(name="x", task="classify", config={})
    ResultsStore(tmp_path).add_resume(run_id, {"iteration": 1})
    ResultsStore(tmp_path).add_resume(run_id, {"iteration": 2})
    assert ResultsStore(tmp_path).get_run(run_id)["resumes"] == [{"iteration": 1}, {"iteration": 2}]
