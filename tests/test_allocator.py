"""The malloc settings of CPU training: opt-out, and the page faults they remove."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rnnlab.training import allocator
from tests.conftest import REPO

# A small LSTM training loop that prints 'state faults weights': what tune_cpu_allocator() did,
# the minor page faults of 20 steps after a warm-up, and a checksum of the trained weights.
STEPS = """
import resource, torch
from torch import nn
from rnnlab.training.allocator import tune_cpu_allocator
state = tune_cpu_allocator()
torch.set_num_threads(1)
torch.manual_seed(0)
lstm, fc = nn.LSTM(28, 64, 2, batch_first=True), nn.Linear(64, 10)
opt = torch.optim.Adam([*lstm.parameters(), *fc.parameters()])
x, y = torch.rand(100, 28, 28), torch.randint(0, 10, (100,))
def step():
    opt.zero_grad()
    nn.functional.cross_entropy(fc(lstm(x)[0][:, -1]), y).backward()
    opt.step()
for _ in range(5):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(state, faults, repr(sum(float(p.double().sum()) for p in lstm.parameters())))
"""


def run_steps(malloc: str) -> tuple[str, int, str]:
    env = {**os.environ, "RNNLAB_MALLOC": malloc, "PYTHONPATH": str(REPO / "src")}
    out = subprocess.run(
        [sys.executable, "-c", STEPS], env=env, capture_output=True, text=True, check=True
    )
    state, faults, weights = out.stdout.split()
    return state, int(faults), weights


@pytest.fixture
def fresh_allocator_state(monkeypatch):
    monkeypatch.setattr(allocator, "_state", None)


def test_opt_out_leaves_glibc_alone(fresh_allocator_state, monkeypatch):
    monkeypatch.setenv("RNNLAB_MALLOC", "default")
    assert allocator.tune_cpu_allocator() == "default"
    assert allocator.allocator_state() == "default"


def test_state_is_reported_once_tuned(fresh_allocator_state, monkeypatch):
    monkeypatch.delenv("RNNLAB_MALLOC", raising=False)
    state = allocator.tune_cpu_allocator()
    assert state in ("tuned", "unavailable")
    assert allocator.allocator_state() == state
    if sys.platform.startswith("linux"):
        assert state == "tuned"  # glibc here


@pytest.mark.skipif(allocator._glibc() is None, reason="needs glibc")
def test_tuned_training_steps_stop_faulting_pages_and_compute_the_same():
    default_state, default_faults, default_weights = run_steps("default")
    tuned_state, tuned_faults, tuned_weights = run_steps("tuned")
    assert (default_state, tuned_state) == ("default", "tuned")
    assert tuned_weights == default_weights  # where memory comes from changes no arithmetic
    # glibc's defaults hand the step's buffers back and fault them in again every step
    assert default_faults > 20 * 500
    assert tuned_faults < default_faults / 20
