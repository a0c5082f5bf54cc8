"""rnnlab's classification run is the tutorials' loop, step for step.

The seeds' model (explicit zero h0, last time step, linear readout; `SeedModel`, shared
with benchmarks/run.py) and loop (zero_grad, forward, cross-entropy, backward, step) are
written as the tutorials write them; given the same initial weights and the same batches,
rnnlab must produce the same losses and the same final weights. Differences between
published figures and rnnlab's are then differences between random seeds, not between
programs.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from benchmarks.run import SeedModel  # the tutorials' model, as the benchmark trains it
from rnnlab.api import make_config
from rnnlab.tasks.classify import ClassifyTask
from rnnlab.training.optim import make_optimizer


@pytest.mark.parametrize("preset", ["seed-c", "sheet-lstm"])
def test_rnnlab_matches_the_tutorial_loop(data_dir, preset):
    cfg = make_config(preset, {"data.train_limit": 2000, "data.test_limit": 100})
    task = ClassifyTask(cfg, data_dir, torch.device("cpu"))
    torch.manual_seed(0)
    ours = task.build_model()
    theirs = SeedModel(cfg.model.cell, cfg.model.hidden, cfg.model.layers)
    theirs.load_state_dict(ours.state_dict())
    opt_ours = make_optimizer(ours.parameters(), cfg.train)
    opt_theirs = (torch.optim.SGD if cfg.train.optimizer == "sgd" else torch.optim.Adam)(
        theirs.parameters(), lr=cfg.train.lr
    )
    criterion = nn.CrossEntropyLoss()
    for it in range(30):
        x, y = task.batch(it)
        loss_ours, _ = task.loss(ours, (x, y), it)
        opt_ours.zero_grad()
        loss_ours.backward()
        opt_ours.step()

        images = x.view(-1, 28, 28).requires_grad_()
        opt_theirs.zero_grad()
        loss_theirs = criterion(theirs(images), y)
        loss_theirs.backward()
        opt_theirs.step()
        assert loss_ours.item() == pytest.approx(loss_theirs.item(), rel=1e-5, abs=1e-6)
    for (name, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5), name
