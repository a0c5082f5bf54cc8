"""The training loop as a user meets it: time left, the progress bar where it cannot redraw,
Ctrl-C while the run saves, and SIGTERM from a job scheduler handled like Ctrl-C."""

from __future__ import annotations

import io
import multiprocessing
import signal
import subprocess
import sys
import textwrap
import types

import pytest

from rnnlab import api
from rnnlab.cli import main
from rnnlab.errors import TrainingInterrupted, TrainingTerminated
from rnnlab.tasks.classify import ClassifyTask
from rnnlab.training import checkpoint, trainer
from rnnlab.training.interrupt import GracefulStop
from rnnlab.training.progress import evaluations_left
from tests.conftest import QUICK, REPO, assert_same_parameters, ctrl_c_at_batch, press_ctrl_c

# 40 iterations, evaluated at 20 and 40, on one thread (the subprocess below gets the same)
RUN = {**QUICK, "train.iters": 40, "train.eval_every": 20, "model.hidden": 16, "threads": 1}


def train(data_dir, runs_dir, verbose=False, **extra) -> api.RunResult:
    return api.train(
        "sheet-rnn",
        overrides={**RUN, **extra},
        data_dir=data_dir,
        runs_dir=runs_dir,
        verbose=verbose,
    )


# -- time left ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("iteration", "total", "every", "left"),
    [
        (0, 3000, 500, 6),
        (500, 3000, 500, 5),
        (1000, 1200, 500, 1),  # lstm-2ep: 2 epochs of 600 batches end with an evaluation at 1200
        (50, 110, 50, 2),
        (110, 110, 50, 0),
        (0, 5, 10, 1),  # only the one at the end
    ],
)
def test_evaluations_left(iteration, total, every, left):
    assert evaluations_left(iteration, total, every) == left


def test_time_left_counts_the_evaluations_still_to_come(data_dir, tmp_path, monkeypatch, capsys):
    """On a clock where a step takes 1 s and an evaluation 10 s, 110 iterations evaluated at 50,
    100 and 110 have 60 s of steps and 20 s of evaluations left at 50, and 10 + 10 s at 100.
    Dividing the whole time by the steps (1.2 s each at 50) said 72 s, then 12 s."""
    clock = types.SimpleNamespace(now=0.0)
    monkeypatch.setattr(trainer, "time", types.SimpleNamespace(perf_counter=lambda: clock.now))
    batch, evaluate = ClassifyTask.batch, ClassifyTask.evaluate

    def slow_batch(self, it):
        clock.now += 1.0
        return batch(self, it)

    def slow_evaluate(self, model):
        clock.now += 10.0
        return evaluate(self, model)

    monkeypatch.setattr(ClassifyTask, "batch", slow_batch)
    monkeypatch.setattr(ClassifyTask, "evaluate", slow_evaluate)
    train(data_dir, tmp_path, verbose=True, **{"train.iters": 110, "train.eval_every": 50})
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("Iteration")]
    assert [x.split(" | ")[-2:] for x in lines] == [
        ["0:01:00 elapsed", "0:01:20 left"],
        ["0:02:00 elapsed", "0:00:20 left"],
        ["0:02:20 elapsed", "0:00:00 left"],  # 60 + 80 s, as said at 50
    ]


# -- what the progress display writes where ---------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("term", "bar"), [("xterm-256color", True), ("dumb", False)])
def test_no_progress_bar_on_a_terminal_that_cannot_redraw(
    data_dir, tmp_path, monkeypatch, term, bar
):
    """TERM=dumb (an Emacs shell, some CI log viewers) shows every carriage-return redraw."""
    monkeypatch.setenv("TERM", term)
    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    train(data_dir, tmp_path, verbose=True, **{"train.iters": 20})
    assert ("\r" in err.getvalue()) == bar


def test_ctrl_c_in_a_log_file_writes_no_blank_line(data_dir, tmp_path, monkeypatch, capsys):
    """The newline before the notice breaks a progress bar's line; a log has none."""
    ctrl_c_at_batch(monkeypatch, ClassifyTask, 30)
    with pytest.raises(TrainingInterrupted):
        train(data_dir, tmp_path, verbose=True)
    err = capsys.readouterr().err
    assert err == "Stopping after this iteration (Ctrl-C again to stop at once)\n"


# -- a second Ctrl-C while the interrupted run saves ---------------------------------------------


def test_a_second_ctrl_c_while_saving_keeps_the_last_checkpoint_and_says_so(
    data_dir, tmp_path, monkeypatch
):
    ctrl_c_at_batch(monkeypatch, ClassifyTask, 30)
    save = checkpoint.save_checkpoint

    def interrupted_save(path, payload):
        if payload["running"]:  # the save after Ctrl-C: the second press lands in it
            raise KeyboardInterrupt
        return save(path, payload)

    monkeypatch.setattr(checkpoint, "save_checkpoint", interrupted_save)
    try:
        train(data_dir, tmp_path)
    except KeyboardInterrupt:
        pytest.fail("the second Ctrl-C escaped as a bare KeyboardInterrupt ('rnnlab: interrupted')")
    except TrainingInterrupted as exc:
        said = str(exc)
    assert said.startswith("stopped at once at iteration 31/40; the last checkpoint is ")
    assert "(iteration 20); continue with: rnnlab train --resume" in said
    (run,) = api.runs(tmp_path)
    assert run["status"] == "interrupted" and run["iteration"] == 20
    assert sorted(p.name for p in (tmp_path / "sheet-rnn-0001").glob("*.pt")) == [
        "best.pt",
        "last.pt",
    ]  # no temporary file left


def test_ctrl_c_during_an_evaluation_saves_there_and_resumes_exactly(
    data_dir, tmp_path, monkeypatch
):
    """The evaluation in flight finishes, and the run stops before the next step."""
    straight = train(data_dir, tmp_path / "a")
    evaluate = ClassifyTask.evaluate
    calls = []

    def pressed_in_the_first(self, model):
        calls.append(1)
        if len(calls) == 1:
            press_ctrl_c()
        return evaluate(self, model)

    monkeypatch.setattr(ClassifyTask, "evaluate", pressed_in_the_first)
    with pytest.raises(TrainingInterrupted, match="interrupted at iteration 20/40; saved"):
        train(data_dir, tmp_path / "b")
    (run,) = api.runs(tmp_path / "b")
    assert run["status"] == "interrupted" and run["iteration"] == 20
    monkeypatch.setattr(ClassifyTask, "evaluate", evaluate)
    resumed = api.train(resume=run["checkpoint"], data_dir=data_dir, verbose=False)
    assert_same_parameters(straight.checkpoint, resumed.checkpoint)
    assert [h["iteration"] for h in resumed.history] == [20, 40]


# -- SIGTERM ------------------------------------------------------------------------------------

SIGTERM_AT_30 = """
import os, signal, sys
from rnnlab.cli import main
from rnnlab.tasks.classify import ClassifyTask

batch = ClassifyTask.batch

def terminated_at_30(self, it):
    if it == 30:
        os.kill(os.getpid(), signal.SIGTERM)  # what Slurm, timeout or docker stop send
    return batch(self, it)

ClassifyTask.batch = terminated_at_30
sys.exit(main(sys.argv[1:]))
"""


def test_sigterm_saves_like_ctrl_c_exits_143_and_resumes_exactly(data_dir, tmp_path):
    args = [f"--set={k}={v}" for k, v in RUN.items()]
    runs = tmp_path / "b"
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SIGTERM_AT_30), "train", "--preset", "sheet-rnn",
         *args, "--data-dir", str(data_dir), "--runs-dir", str(runs)],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 143, (done.returncode, done.stderr)
    last = runs / "sheet-rnn-0001" / "last.pt"
    assert done.stderr.splitlines() == [
        "SIGTERM received: stopping after this iteration to save the run",
        f"rnnlab: error: terminated (SIGTERM) at iteration 31/40; saved {last}; "
        f"continue with: rnnlab train --resume {last}",
    ]
    (run,) = api.runs(runs)
    assert (run["status"], run["iteration"], run["message"]) == (
        "interrupted",
        31,
        "stopped by SIGTERM",
    )
    resumed = api.train(resume=last, data_dir=data_dir, verbose=False)
    straight = train(data_dir, tmp_path / "a")
    assert_same_parameters(straight.checkpoint, resumed.checkpoint)
    assert [(h["train_loss"], h["test_acc"]) for h in resumed.history] == [
        (h["train_loss"], h["test_acc"]) for h in straight.history
    ]


@pytest.mark.skipif(
    signal.getsignal(signal.SIGTERM) != signal.SIG_DFL, reason="SIGTERM is handled here already"
)
def test_the_sigterm_handler_lasts_only_as_long_as_the_loop():
    """(Not by raising SIGTERM here: without the handler that ends the test process.)"""
    with GracefulStop(announce=False) as stop:
        assert signal.getsignal(signal.SIGTERM) == stop._handle
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


@pytest.mark.parametrize("chosen", ["ignored", "pool worker"])
def test_sigterm_is_left_alone_where_someone_chose_its_handling(monkeypatch, chosen):
    """An ignored SIGTERM stays ignored; a pool's worker (which the pool ends with SIGTERM
    and waits for) is not kept alive by it."""
    if chosen == "ignored":
        monkeypatch.setattr(signal, "getsignal", lambda s: signal.SIG_IGN)
    else:
        monkeypatch.setattr(multiprocessing, "parent_process", lambda: object())
    installed: list[int] = []
    real = signal.signal
    monkeypatch.setattr(signal, "signal", lambda s, h: installed.append(s) or real(s, h))
    with GracefulStop(announce=False):
        pass
    assert installed == [signal.SIGINT, signal.SIGINT]  # set, then put back


def test_the_command_exits_143_after_sigterm(monkeypatch, capsys):
    def terminated(*args, **kwargs):
        raise TrainingTerminated("terminated (SIGTERM) at iteration 3/9; saved x.pt")

    monkeypatch.setattr(api, "train", terminated)
    assert main(["train", "--preset", "hihell"]) == 143
    err = capsys.readouterr().err
    assert err == "rnnlab: error: terminated (SIGTERM) at iteration 3/9; saved x.pt\n"
