"""Training core: optimizer settings changed on resume, and weights that overflow while the
loss stays finite never become the "last good" checkpoint."""

from __future__ import annotations

import pytest
import torch

from rnnlab import api
from rnnlab.errors import TrainingDiverged, TrainingInterrupted
from rnnlab.results.store import ResultsStore
from rnnlab.tasks.classify import ClassifyTask
from tests.conftest import QUICK, press_ctrl_c


def optimizer_settings(checkpoint) -> dict:
    groups = torch.load(checkpoint, weights_only=True)["optimizer"]["param_groups"]
    return {k: v for k, v in groups[0].items() if k != "params"}


def hihell(runs_dir, **overrides) -> api.RunResult:
    return api.train("hihell", overrides=overrides, runs_dir=runs_dir, verbose=False)


def test_resume_applies_changed_momentum_and_weight_decay(tmp_path):
    """README: on resume "any other override is applied"; torch's load_state_dict brings the
    checkpoint's own momentum and weight decay back, which silently undid the change."""
    first = hihell(tmp_path, **{"train.iters": 10, "train.optimizer": "sgd", "train.lr": 0.1})
    resumed = api.train(
        resume=first.checkpoint,
        overrides={"train.iters": 20, "train.momentum": 0.9, "train.weight_decay": 0.5},
        runs_dir=tmp_path,
        verbose=False,
    )
    settings = optimizer_settings(resumed.checkpoint)
    assert settings["momentum"] == 0.9 and settings["weight_decay"] == 0.5
    # ... and they act: SGD with momentum keeps a buffer per parameter
    state = torch.load(resumed.checkpoint, weights_only=True)["optimizer"]["state"]
    assert all(s.get("momentum_buffer") is not None for s in state.values())


def test_resume_with_momentum_added_to_rmsprop(tmp_path):
    first = hihell(tmp_path, **{"train.iters": 10, "train.optimizer": "rmsprop"})
    resumed = api.train(
        resume=first.checkpoint,
        overrides={"train.iters": 20, "train.momentum": 0.5},
        runs_dir=tmp_path,
        verbose=False,
    )
    assert resumed.iteration == 20 and optimizer_settings(resumed.checkpoint)["momentum"] == 0.5


def test_resume_with_another_optimizer_starts_its_state_afresh(tmp_path):
    first = hihell(tmp_path, **{"train.iters": 10, "train.optimizer": "sgd", "train.lr": 0.1})
    resumed = api.train(
        resume=first.checkpoint,
        overrides={"train.iters": 20, "train.optimizer": "adam", "train.lr": 0.01},
        runs_dir=tmp_path,
        verbose=False,
    )  # was: KeyError 'betas' (the SGD groups loaded into Adam)
    assert resumed.iteration == 20 and "betas" in optimizer_settings(resumed.checkpoint)
    state = torch.load(resumed.checkpoint, weights_only=True)["optimizer"]["state"]
    assert all(int(s["step"]) == 10 for s in state.values())  # Adam's own 10 steps


def test_an_unchanged_resume_keeps_the_optimizer_state(tmp_path):
    over = {"train.optimizer": "sgd", "train.lr": 0.1, "train.momentum": 0.9}
    straight = hihell(tmp_path / "a", **over, **{"train.iters": 20})
    first = hihell(tmp_path / "b", **over, **{"train.iters": 10})
    resumed = api.train(
        resume=first.checkpoint, overrides={"train.iters": 20}, runs_dir=tmp_path / "b",
        verbose=False,
    )  # fmt: skip
    a = torch.load(straight.checkpoint, weights_only=True)
    b = torch.load(resumed.checkpoint, weights_only=True)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def overflow_at(monkeypatch, at: int, ctrl_c: bool = False) -> None:
    """Make the classifier's step at 0-based iteration `at` overflow a gradient while the loss
    stays finite (its value is unchanged, its gradient infinite); `ctrl_c` presses Ctrl-C in
    that iteration too."""
    original = ClassifyTask.loss

    def loss(self, model, batch, iteration):
        value, extra = original(self, model, batch, iteration)
        if iteration == at:
            if ctrl_c:
                press_ctrl_c()
            b = model.fc.bias[0]
            value = value + 1e-30 * torch.sqrt(b - b.detach())
            assert torch.isfinite(value)
        return value, extra

    monkeypatch.setattr(ClassifyTask, "loss", loss)


def test_weights_that_overflow_under_a_finite_loss_are_not_saved(data_dir, tmp_path, monkeypatch):
    """A gradient can overflow while the loss is still finite (an exploding RNN): the step
    makes the weights NaN, and the evaluation right after it saved them as last.pt, which
    the divergence message then called the last good checkpoint."""
    overflow_at(monkeypatch, 19)  # the step before the evaluation at 20
    over = {**QUICK, "train.iters": 40, "model.hidden": 16}
    with pytest.raises(TrainingDiverged, match="last good checkpoint: .*last.pt"):
        api.train("sheet-rnn", overrides=over, data_dir=data_dir, runs_dir=tmp_path, verbose=False)
    (run,) = api.runs(tmp_path)
    assert run["status"] == "diverged"
    payload = torch.load(run["checkpoint"], weights_only=True)
    assert payload["iteration"] == 10
    assert all(torch.isfinite(t).all() for t in payload["model"].values())
    # nothing was recorded from the broken weights
    assert [h["iteration"] for h in ResultsStore(tmp_path).metrics(run["id"])] == [10]


def test_ctrl_c_after_a_gradient_overflow_keeps_the_last_good_checkpoint(
    data_dir, tmp_path, monkeypatch
):
    """Ctrl-C in the iteration whose step broke the weights: the save on Ctrl-C must not
    write them over the last good last.pt."""
    overflow_at(monkeypatch, 14, ctrl_c=True)
    over = {**QUICK, "train.iters": 40, "model.hidden": 16}
    with pytest.raises(TrainingInterrupted, match="nan or infinite.*not saved.*iteration 10"):
        api.train("sheet-rnn", overrides=over, data_dir=data_dir, runs_dir=tmp_path, verbose=False)
    (run,) = api.runs(tmp_path)
    assert run["status"] == "interrupted" and run["iteration"] == 10
    payload = torch.load(run["checkpoint"], weights_only=True)
    assert payload["iteration"] == 10
    assert all(torch.isfinite(t).all() for t in payload["model"].values())


def test_a_new_run_from_a_checkpoint_starts_with_its_metrics_and_its_last_good_checkpoint(
    tmp_path, monkeypatch
):
    """A run started from another run's best.pt holds the curve that led there (as its
    result.json does), and a divergence before its own first save names that checkpoint."""
    first = hihell(tmp_path, **{"train.iters": 20, "train.eval_every": 5})
    best = first.checkpoint.parent / "best.pt"
    start = torch.load(best, weights_only=True)["iteration"]
    resumed = api.train(
        resume=best, overrides={"train.iters": 30}, runs_dir=tmp_path, verbose=False
    )
    assert resumed.run_id != first.run_id  # best.pt starts a new run
    logged = [h["iteration"] for h in ResultsStore(tmp_path).metrics(resumed.run_id)]
    assert logged == [h["iteration"] for h in resumed.history]
    assert logged[0] == 5 and start in logged and logged[-1] == 30

    from rnnlab.tasks.hihell import HihellTask

    monkeypatch.setattr(HihellTask, "loss", lambda *a: (torch.tensor(float("nan")), {}))
    with pytest.raises(TrainingDiverged, match=f"last good checkpoint: {best}"):
        api.train(resume=best, overrides={"train.iters": 30}, runs_dir=tmp_path, verbose=False)


def test_evaluate_scores_in_the_run_precision(data_dir, tmp_path, monkeypatch):
    """`rnnlab evaluate` reproduces the run's own last evaluation, bf16 runs included."""
    from rnnlab.training import runtime

    monkeypatch.setattr(runtime, "cpu_bf16_fast", lambda: True)
    monkeypatch.setattr(api, "cpu_bf16_fast", lambda: True)
    over = {**QUICK, "train.iters": 20, "model.hidden": 16, "train.precision": "bf16"}
    run = api.train("sheet-rnn", overrides=over, data_dir=data_dir, runs_dir=tmp_path,
                    verbose=False)  # fmt: skip
    scored = api.evaluate(run.checkpoint, data_dir=data_dir, device="cpu")
    assert scored["precision"] == "bf16"
    assert scored["test_acc"] == run.metrics["test_acc"]
    assert scored["test_loss"] == run.metrics["test_loss"]


def test_with_a_validation_split_best_pt_is_chosen_on_it(data_dir, tmp_path):
    """Choosing the best checkpoint on the test set would make its test figure optimistic:
    with images held out of training, best.pt is the best on them."""
    over = {**QUICK, "train.iters": 40, "model.hidden": 16, "data.validation": 200}
    run = api.train("sheet-rnn", overrides=over, data_dir=data_dir, runs_dir=tmp_path,
                    verbose=False)  # fmt: skip
    best_val = max(h["val_acc"] for h in run.history)
    assert run.best["val_acc"] == best_val
    chosen = torch.load(run.checkpoint.parent / "best.pt", weights_only=True)
    assert chosen["iteration"] == run.best["iteration"]
    first = next(h for h in run.history if h["val_acc"] == best_val)
    assert run.best["iteration"] == first["iteration"]
    plain = api.train("sheet-rnn", overrides={**over, "data.validation": 0},
                      data_dir=data_dir, runs_dir=tmp_path, verbose=False)  # fmt: skip
    assert plain.best["test_acc"] == max(h["test_acc"] for h in plain.history)
