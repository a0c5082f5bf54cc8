"""The note a training prints when other processes keep the cores busy."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch

from rnnlab import api
from rnnlab.training import crowding
from rnnlab.training.crowding import CpuWatch, crowding_note
from tests.conftest import QUICK

LINUX_PROC = crowding._machine_busy_seconds() is not None


@pytest.mark.parametrize(
    ("others", "threads", "cores", "noted"),
    [
        (None, 2, 2, False),  # nothing measured
        (0.1, 2, 2, False),  # an idle machine
        (1.0, 2, 2, True),  # a busy job beside a run on every core
        (1.0, 1, 2, False),  # one thread never waits on another
        (1.0, 2, 4, False),  # room enough on four cores
        (2.0, 4, 4, True),
    ],
)
def test_the_note_appears_only_when_threads_and_other_work_outnumber_the_cores(
    others, threads, cores, noted
):
    note = crowding_note(others, threads, cores)
    assert (note is not None) == noted
    if noted:
        assert f"of the {cores} cores busy" in note and "--threads 1" in note


@pytest.mark.skipif(not LINUX_PROC, reason="needs /proc/stat for exactly this process's cores")
def test_the_watch_sees_another_process_and_not_its_own_work():
    spin = "import time\nend = time.time() + 1.5\nwhile time.time() < end: pass"
    child = subprocess.Popen([sys.executable, "-c", spin])
    try:
        time.sleep(0.3)  # the child is up and spinning
        watch = CpuWatch()
        time.sleep(0.6)
        assert watch.others() >= 0.5
    finally:
        child.wait()


def test_this_process_own_work_is_not_other_work(monkeypatch):
    clock = {"wall": 0.0, "machine": 100.0, "own": 10.0}
    monkeypatch.setattr(crowding.time, "perf_counter", lambda: clock["wall"])
    monkeypatch.setattr(crowding, "_machine_busy_seconds", lambda: clock["machine"])
    monkeypatch.setattr(crowding, "_own_seconds", lambda: clock["own"])
    watch = CpuWatch()
    # 2 s of wall time: the machine spent 3.5 CPU seconds, 2.5 of them in this process
    clock.update(wall=2.0, machine=103.5, own=12.5)
    assert watch.others() == pytest.approx(0.5)


def test_no_proc_stat_means_no_note(monkeypatch, tmp_path):
    monkeypatch.setattr(crowding, "PROC_STAT", tmp_path / "missing")
    watch = CpuWatch()
    time.sleep(0.06)
    assert watch.others() is None


def test_a_crowded_training_prints_the_note(data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(CpuWatch, "others", lambda self: 1.6)
    monkeypatch.setattr(crowding, "usable_cores", lambda: 2)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    api.train("seed-c", overrides=QUICK, data_dir=data_dir, runs_dir=tmp_path)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Run 1: seed-c")
    assert lines[1].startswith("Note: other processes kept 1.6 of the 2 cores busy")
