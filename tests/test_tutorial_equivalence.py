"""rnnlab's classification run is the tutorials' loop, step for step.

The seeds' model (explicit zero h0, last time step, linear readout; `SeedModel`, shared
with benchmarks/run.py) and loop (zero_grad, forward, cross-entropy, backward, step) are
written as the tutorials write them; given the same initial weights and the same batches,
rnnlab must produce the same losses and the same final weights. With `data.order =
"dataloader"` rnnlab also draws its initial weights and batch order as the tutorials'
script does after `torch.manual_seed`, so `--seed S` is that script's run
(tests/tutorial_script.py). Differences between published figures and rnnlab's are then
differences between random seeds, not between programs.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from benchmarks.run import SeedModel  # the tutorials' model, as the benchmark trains it
from rnnlab import api
from rnnlab.api import make_config
from rnnlab.tasks.classify import ClassifyTask
from rnnlab.training.optim import make_optimizer
from tests.tutorial_script import run_tutorial_script


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


@pytest.mark.parametrize("seed", [0, 7])
def test_a_seed_is_the_tutorial_script_with_that_manual_seed(data_dir, tmp_path, seed):
    """Same initial weights, same batches in the same order: 3.5 epochs, so the per-epoch
    draws and the draw of the test pass between them all count."""
    limits = {"data.train_limit": 400, "data.test_limit": 200}
    result = api.train(
        "seed-c",
        overrides={
            **limits,
            "data.order": "dataloader",
            "train.iters": 14,
            "train.eval_every": 10,
            "seed": seed,
        },
        data_dir=data_dir,
        runs_dir=tmp_path,
        verbose=False,
    )
    theirs, accuracies = run_tutorial_script(
        data_dir, seed=seed, iters=14, eval_every=10, train_limit=400, test_limit=200
    )
    ours = api.load(result.checkpoint, data_dir=data_dir).model.state_dict()
    for name, tensor in ours.items():
        assert torch.allclose(tensor, theirs[name], atol=1e-6), name
    assert result.history[0]["test_acc"] == pytest.approx(accuracies[0], abs=1e-4)
