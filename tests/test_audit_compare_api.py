"""Audit of compare (parallel workers, Ctrl-C, --jobs) and of the Python API's surface."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import rnnlab
from rnnlab import api
from rnnlab.experiments.compare import ComparisonInterrupted, compare, plan_comparison
from rnnlab.tasks.hihell import HihellTask

# hihell needs no data set and trains in a fraction of a second per run
HIHELL = {"train.iters": 10, "train.eval_every": 5}


def test_ctrl_c_in_a_parallel_compare_starts_none_of_the_queued_runs(tmp_path):
    # The pool hands each worker its next run ahead of time: before, a terminal's Ctrl-C
    # (which reaches the workers too) stopped the two running runs and then the workers
    # trained the queued runs 3 and 4 in full, while the user waited.
    script = tmp_path / "long.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import rnnlab
            if __name__ == "__main__":
                rnnlab.compare("hihell", seeds="0-3", jobs=2, runs_dir={str(tmp_path)!r},
                               overrides={{"train.iters": 10**7, "train.eval_every": 200}})
            """
        )
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    try:
        started: set[str] = set()
        deadline = time.monotonic() + 240
        assert proc.stdout is not None
        while started != {"[1/4", "[2/4"} and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, "the comparison ended before both runs were training"
            if "iteration" in line:
                started.add(line.split()[0])
        assert started == {"[1/4", "[2/4"}, "the two first runs did not start training"
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the parent and its workers
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail("a minute after Ctrl-C the comparison is still training runs")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert "interrupted" in out and "same command again" in out
    runs = api.runs(tmp_path)
    assert sorted(r["seed"] for r in runs) == [0, 1]  # seeds 2 and 3 were never started
    assert {r["status"] for r in runs} == {"interrupted"}


def test_jobs_far_beyond_the_runs_trains_them_instead_of_overflowing(tmp_path, capsys):
    # jobs=10**20 (or --jobs 4294967296) passed the check, then the pool's queue of that
    # size overflowed: "unexpected OverflowError" after the store was made; and the header
    # promised "100000000000000000000 at a time" for two runs
    result = compare("hihell", seeds=[0, 1], jobs=10**20, overrides=HIHELL, runs_dir=tmp_path)
    assert [r.status for r in result.runs] == ["completed", "completed"]
    assert "; 2 at a time" in capsys.readouterr().out


def test_an_interrupted_run_resumes_from_another_working_folder(tmp_path, monkeypatch):
    # The store records the checkpoint as the runs folder was spelled ("runs/x-0001/last.pt",
    # relative to the folder the command ran in): the same comparison run again from another
    # folder said "0 to resume" and trained the run again from the start, leaving the
    # interrupted one behind.
    over = {"train.iters": 40, "train.eval_every": 10}
    original = HihellTask.batch

    def interrupt_at_25(self, iteration):
        if iteration == 25:
            raise KeyboardInterrupt
        return original(self, iteration)

    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.setattr(HihellTask, "batch", interrupt_at_25)
    with pytest.raises(ComparisonInterrupted):
        compare("hihell", overrides=over, runs_dir="runs", verbose=False)
    monkeypatch.setattr(HihellTask, "batch", original)

    monkeypatch.chdir(tmp_path)  # the same runs folder, now spelled work/runs
    plan = plan_comparison("hihell", overrides=over, runs_dir="work/runs")
    assert plan.status() == (0, 1, 0)
    result = compare("hihell", overrides=over, runs_dir="work/runs", verbose=False)
    (run,) = api.runs("work/runs")
    assert run["status"] == "completed" and result.runs[0].run_id == run["id"] == 1
    straight = compare("hihell", overrides=over, runs_dir=tmp_path / "straight", verbose=False)
    assert result.runs[0].metrics == straight.runs[0].metrics


@pytest.mark.parametrize("function", [rnnlab.compare, rnnlab.plan_comparison])
def test_a_study_with_a_source_is_refused_from_python_as_on_the_command_line(function, tmp_path):
    # The CLI refused `compare ex2-rnn --preset hihell`, but the API trained the study's grid
    # on hihell under the study's own name: `rnnlab compare ex2-rnn` was then refused as
    # "other settings".
    with pytest.raises(rnnlab.ConfigError, match="a study names its own preset.*source"):
        function("hihell", study="ex2-rnn", runs_dir=tmp_path)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("function", [rnnlab.compare, rnnlab.plan_comparison])
def test_a_bad_source_is_named_as_the_argument_it_is(function):
    # was "config must be a preset name, ...": compare has no argument called config
    with pytest.raises(rnnlab.ConfigError, match="^source must be a preset name"):
        function(5)


@pytest.mark.parametrize(
    ("kwargs", "python_name"),
    [
        ({"jobs": 0}, "jobs=2"),
        ({"seeds": [1], "overrides": {"seed": 3}}, "seeds="),
        ({"grid": {"seed": [1, 2]}}, "seeds="),
    ],
)
def test_api_errors_name_the_keyword_argument_not_only_the_flag(kwargs, python_name, tmp_path):
    # said only "--jobs must be a positive integer", "give either --seed or --seeds" and
    # "vary the seed with --seeds" to a caller who wrote jobs=, seeds= and grid=
    with pytest.raises(rnnlab.ConfigError) as caught:
        plan_comparison("hihell", runs_dir=tmp_path, **kwargs)
    assert python_name in str(caught.value) and "\n" not in str(caught.value)


def test_compare_checks_verbose_as_train_does(tmp_path):
    # verbose="no" is true: it printed every line, where train refuses it
    with pytest.raises(rnnlab.ConfigError, match="verbose must be True or False, got 'no'"):
        compare("hihell", overrides=HIHELL, runs_dir=tmp_path, verbose="no")


def test_numpy_integers_are_whole_numbers(classify_checkpoint, data_dir, tmp_path):
    # np.arange(3) as indices (or an argmax as top) was "test index 0 is not a whole number"
    rows = api.predict(classify_checkpoint, indices=np.arange(2), top=np.int64(2),
                       data_dir=data_dir)  # fmt: skip
    assert [r["source"] for r in rows] == ["test[0]", "test[1]"]
    assert all(len(r["top"]) == 2 for r in rows)
    (one,) = api.predict(classify_checkpoint, indices=np.int64(3), data_dir=data_dir)
    assert one["source"] == "test[3]"
    assert len(api.runs(classify_checkpoint.parent.parent, limit=np.int64(1))) == 1
    plan = plan_comparison("hihell", seeds=list(np.arange(3)), runs_dir=tmp_path)
    assert plan.seeds == [0, 1, 2] and all(type(s) is int for s in plan.seeds)


def test_the_shipped_studies_are_listed_from_python_as_compare_list_lists_them(capsys):
    # `rnnlab compare --list` had no function on the package (presets has rnnlab.presets)
    from rnnlab import cli

    assert cli.main(["compare", "--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    found = rnnlab.studies()
    assert "studies" in rnnlab.__all__ and list(found) == [ln.split()[0] for ln in listed]
    assert found["ex2-rnn"].startswith("Exercise 2, RNN") and found["ex2-rnn"] in listed[1]


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch):
    monkeypatch.delenv("RNNLAB_DEBUG", raising=False)
