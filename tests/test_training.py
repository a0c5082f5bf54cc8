"""Training on real MNIST slices: learning, exact resume, Ctrl-C, NaN, checkpoints, store."""

from __future__ import annotations

import json
import signal

import pytest
import torch
from torch import nn

from rnnlab import api
from rnnlab.errors import (
    CheckpointError,
    ConfigError,
    RnnlabError,
    TrainingDiverged,
    TrainingInterrupted,
)
from rnnlab.tasks import get_task_class
from rnnlab.tasks.classify import ClassifyTask
from tests.conftest import (
    QUICK,
    assert_same_parameters,
    press_ctrl_c,
    train_straight_and_resumed,
)


def quick(**extra):
    return {**QUICK, **extra}


def params(path):
    return torch.load(path, weights_only=True)["model"]


def test_training_learns_and_records_everything(data_dir, tmp_path):
    result = api.train(
        "sheet-rnn",
        overrides=quick(**{"train.iters": 60, "train.eval_every": 20}),
        data_dir=data_dir,
        runs_dir=tmp_path,
        verbose=False,
    )
    accs = [h["test_acc"] for h in result.history]
    assert [h["iteration"] for h in result.history] == [20, 40, 60]
    assert accs[-1] > 40  # chance is 10 %
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    # the store holds config, versions, metrics over time and timing
    (run,) = api.runs(tmp_path)
    assert run["status"] == "completed" and run["iteration"] == 60
    assert run["config"]["model"]["cell"] == "rnn_tanh"
    assert run["versions"]["torch"] == str(torch.__version__)
    assert run["versions"]["malloc"] in ("tuned", "default", "unavailable")
    assert run["samples_per_sec"] > 0 and run["wall_time"] > 0
    assert run["final_metrics"]["test_acc"] == pytest.approx(accs[-1])
    from rnnlab.results.store import ResultsStore

    history = ResultsStore(tmp_path).metrics(run["id"])
    assert [h["test_acc"] for h in history] == pytest.approx(accs)
    saved = json.loads((result.run_dir / "result.json").read_text())
    assert saved["metrics"]["test_acc"] == pytest.approx(accs[-1])
    assert (result.run_dir / "config.toml").is_file()
    assert result.best_checkpoint is not None and result.best_checkpoint.is_file()


@pytest.mark.parametrize("cell", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
def test_every_cell_trains(data_dir, tmp_path, cell):
    result = api.train(
        "sheet-rnn",
        overrides=quick(**{"model.cell": cell, "model.hidden": 16, "train.iters": 10}),
        data_dir=data_dir,
        runs_dir=tmp_path,
        verbose=False,
    )
    assert result.status == "completed" and 0 <= result.metrics["test_acc"] <= 100
    # the run trained the cell asked for, not the preset's rnn_tanh
    rnn = api.load(result.checkpoint, data_dir=data_dir).model.rnn
    module, gates = {"rnn_tanh": (nn.RNN, 1), "rnn_relu": (nn.RNN, 1), "lstm": (nn.LSTM, 4),
                     "gru": (nn.GRU, 3)}[cell]  # fmt: skip
    assert type(rnn) is module and rnn.hidden_size == 16
    if module is nn.RNN:
        assert rnn.nonlinearity == cell.removeprefix("rnn_")
    assert params(result.checkpoint)["rnn.weight_ih_l0"].shape == (gates * 16, 28)


def _option_took_effect(extra: dict, result, data_dir) -> None:
    """What each option of test_options_train changes, seen in the finished run."""
    from rnnlab.models.cells import ScratchRecurrent
    from rnnlab.training.optim import learning_rate

    payload = torch.load(result.checkpoint, weights_only=True)
    weights, optimizer = payload["model"], payload["optimizer"]
    (group,) = optimizer["param_groups"]
    cfg = result.config
    for key, value in extra.items():  # every option reaches the run's config
        section, _, field = key.partition(".")
        assert getattr(getattr(cfg, section), field) == value, key
    view = extra.get("data.view")
    if view in ("pixels", "permuted"):  # one pixel per step
        assert weights["rnn.weight_ih_l0"].shape == (16, 1)
        assert ("permutation" in payload["task_state"]) == (view == "permuted")
    if "data.validation" in extra:
        assert "val_acc" in result.metrics and "val_acc" in result.history[-1]
    if extra.get("model.impl") == "scratch":
        assert isinstance(
            api.load(result.checkpoint, data_dir=data_dir).model.rnn, ScratchRecurrent
        )
        assert weights["rnn.weight_ih_l1"].shape == (4 * 16, 16)  # a 2-layer LSTM
    if "data.dataset" in extra:
        loaded = api.load(result.checkpoint, data_dir=data_dir)
        assert loaded.task.classes[0] == "T-shirt/top"
    if extra.get("model.bidirectional"):
        assert weights["rnn.weight_ih_l0_reverse"].shape == (16, 28)
        assert weights["extra_fc.0.weight"].shape == (32, 2 * 16)  # both directions, then fc
        assert weights["fc.weight"].shape == (10, 32)
        assert api.load(result.checkpoint, data_dir=data_dir).model.rnn.dropout == 0.2
    expected_state = {"sgd": "momentum_buffer", "adam": "exp_avg", "adamw": "exp_avg",
                      "rmsprop": "square_avg"}[cfg.train.optimizer]  # fmt: skip
    assert expected_state in optimizer["state"][0]
    if cfg.train.optimizer in ("sgd", "rmsprop"):
        assert group["momentum"] == cfg.train.momentum
    assert group["weight_decay"] == cfg.train.weight_decay
    if cfg.train.optimizer == "adamw":  # torch's Adam says False here (older torch: no key)
        assert group.get("decoupled_weight_decay", True) is True
    # the learning rate of the last step is the schedule's
    last = result.iteration - 1
    assert group["lr"] == pytest.approx(learning_rate(cfg.train, last, result.iteration))
    if cfg.train.schedule != "none":
        assert group["lr"] < cfg.train.lr


@pytest.mark.parametrize(
    "extra",
    [
        {"data.view": "pixels", "data.train_limit": 200, "data.test_limit": 50},
        {"data.view": "permuted", "data.train_limit": 200, "data.test_limit": 50},
        {"data.validation": 100},
        {"model.impl": "scratch", "model.cell": "lstm", "model.layers": 2},
        {"data.dataset": "fashion-mnist"},
        {"model.bidirectional": True, "model.fc_hidden": 32, "model.dropout": 0.2},
        {
            "train.optimizer": "sgd",
            "train.momentum": 0.9,
            "train.schedule": "step",
            "train.lr_step": 4,
        },
        {"train.optimizer": "adamw", "train.weight_decay": 0.01, "train.schedule": "cosine"},
        {"train.optimizer": "rmsprop", "train.clip_grad": 1.0, "train.warmup": 5},
        {"train.epochs": 0.5, "train.iters": 0},
    ],
)
def test_options_train(data_dir, tmp_path, extra):
    over = quick(**{"model.hidden": 16, "train.iters": 10})
    over.update(extra)
    result = api.train(
        "sheet-rnn", overrides=over, data_dir=data_dir, runs_dir=tmp_path, verbose=False
    )
    assert result.status == "completed"
    if "train.epochs" in extra:
        assert result.iteration == 10  # half of 1000 images / 50 per batch
    _option_took_effect(extra, result, data_dir)


def test_gradient_clipping_is_applied_at_every_step(data_dir, tmp_path, monkeypatch):
    calls = []
    real = nn.utils.clip_grad_norm_

    def spy(parameters, max_norm, *args, **kwargs):
        calls.append(max_norm)
        return real(parameters, max_norm, *args, **kwargs)

    monkeypatch.setattr(nn.utils, "clip_grad_norm_", spy)
    over = quick(**{"model.hidden": 8, "train.iters": 6, "train.eval_every": 3})
    api.train("sheet-rnn", overrides=over, data_dir=data_dir, runs_dir=tmp_path / "a",
              verbose=False)  # fmt: skip
    assert calls == []  # off by default
    api.train("sheet-rnn", overrides={**over, "train.clip_grad": 0.5}, data_dir=data_dir,
              runs_dir=tmp_path / "b", verbose=False)  # fmt: skip
    assert calls == [0.5] * 6


def test_permutation_is_stored_with_the_run(data_dir, tmp_path):
    over = quick(
        **{
            "data.view": "permuted",
            "data.train_limit": 200,
            "data.test_limit": 50,
            "model.hidden": 8,
            "train.iters": 2,
            "data.permutation_seed": 3,
        }
    )
    result = api.train(
        "sheet-rnn", overrides=over, data_dir=data_dir, runs_dir=tmp_path, verbose=False
    )
    perm = torch.load(result.checkpoint, weights_only=True)["task_state"]["permutation"]
    assert sorted(perm) == list(range(784)) and perm != list(range(784))
    loaded = api.load(result.checkpoint, data_dir=data_dir)
    assert loaded.task.permutation.tolist() == perm


def test_resume_continues_exactly(data_dir, tmp_path):
    over = quick(**{"model.dropout": 0.3, "train.eval_every": 50, "model.hidden": 32})
    straight, half, resumed = train_straight_and_resumed(
        "sheet-lstm", over, total=200, stop=100, runs_dir=tmp_path, data_dir=data_dir
    )
    # the helper checked the iterations (200, 100, 200); the first part's weights differ too
    stopped = torch.load(tmp_path / "stopped.pt", weights_only=True)
    assert stopped["iteration"] == 100
    final = params(straight.checkpoint)
    assert not all(torch.equal(stopped["model"][k], v) for k, v in final.items())
    assert_same_parameters(straight.checkpoint, resumed.checkpoint)
    # and Adam's moments: a further resume would go on exactly as well
    opt_a, opt_b = (torch.load(r.checkpoint, weights_only=True)["optimizer"]["state"]
                    for r in (straight, resumed))  # fmt: skip
    assert opt_a.keys() == opt_b.keys() and len(opt_a) > 0
    for i in opt_a:
        for name, value in opt_a[i].items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(opt_b[i][name])), (i, name)
    assert resumed.run_id == half.run_id  # the same run continues in the store
    assert [h["iteration"] for h in resumed.history] == [50, 100, 150, 200]


@pytest.mark.parametrize("order", ["dataloader", "seeded"])
def test_resume_mid_epoch_after_an_extra_evaluation(data_dir, tmp_path, order):
    """The first part stops at 110 (mid-epoch, not an evaluation step), so it ends with an
    evaluation the straight run does not make; the batches after it must not change."""
    over = quick(**{"data.order": order, "train.eval_every": 50, "model.hidden": 16})
    straight, first, resumed = train_straight_and_resumed(
        "sheet-rnn", over, total=200, stop=110, runs_dir=tmp_path, data_dir=data_dir
    )
    assert [h["iteration"] for h in first.history] == [50, 100, 110]  # the extra evaluation
    assert_same_parameters(straight.checkpoint, resumed.checkpoint)


CTRL_C_RUN = quick(**{"train.iters": 40, "train.eval_every": 20, "model.hidden": 16})


def _straight_run_then_ctrl_c_at_30(data_dir, tmp_path, monkeypatch, presses):
    """Train CTRL_C_RUN straight into tmp_path/a, then make the next run see `presses`
    Ctrl-Cs while iteration 30 is in flight; returns the straight run and the real batch."""
    straight = api.train(
        "sheet-rnn", overrides=CTRL_C_RUN, data_dir=data_dir, runs_dir=tmp_path / "a", verbose=False
    )
    original = ClassifyTask.batch

    def ctrl_c_during_30(self, iteration):
        if iteration == 30:
            for _ in range(presses):
                press_ctrl_c()  # a second press raises KeyboardInterrupt here, mid-iteration
        return original(self, iteration)

    monkeypatch.setattr(ClassifyTask, "batch", ctrl_c_during_30)
    return straight, original


def test_ctrl_c_saves_and_resume_finishes(data_dir, tmp_path, monkeypatch):
    # one press: the iteration in flight still finishes
    straight, original = _straight_run_then_ctrl_c_at_30(data_dir, tmp_path, monkeypatch, 1)
    over = CTRL_C_RUN
    # the handler the process had (SIG_IGN where the suite runs as a background job)
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(TrainingInterrupted, match="interrupted at iteration 31/40.*--resume"):
        api.train(
            "sheet-rnn", overrides=over, data_dir=data_dir, runs_dir=tmp_path / "b", verbose=False
        )
    (run,) = api.runs(tmp_path / "b")
    assert run["status"] == "interrupted" and run["iteration"] == 31
    assert signal.getsignal(signal.SIGINT) is before  # handler restored
    monkeypatch.setattr(ClassifyTask, "batch", original)
    resumed = api.train(
        resume=run["checkpoint"], data_dir=data_dir, runs_dir=tmp_path / "b", verbose=False
    )
    a, b = params(straight.checkpoint), params(resumed.checkpoint)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert api.runs(tmp_path / "b")[0]["status"] == "completed"
    # the training loss logged at 40 averages iterations 21-40 across the interruption too
    assert [(h["train_loss"], h["test_acc"]) for h in resumed.history] == [
        (h["train_loss"], h["test_acc"]) for h in straight.history
    ]


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(data_dir, tmp_path, monkeypatch):
    original = ClassifyTask.loss

    def nan_after_25(self, model, batch, iteration):
        loss, extra = original(self, model, batch, iteration)
        return (loss * float("nan") if iteration >= 25 else loss), extra

    monkeypatch.setattr(ClassifyTask, "loss", nan_after_25)
    with pytest.raises(
        TrainingDiverged, match="loss became nan at iteration 26; last good"
    ) as diverged:
        api.train(
            "sheet-rnn",
            overrides=quick(**{"train.iters": 40}),
            data_dir=data_dir,
            runs_dir=tmp_path,
            verbose=False,
        )
    (run,) = api.runs(tmp_path)
    assert run["status"] == "diverged" and diverged.value.run_id == run["id"]
    payload = torch.load(run["checkpoint"], weights_only=True)
    assert payload["iteration"] == 20
    assert all(torch.isfinite(t).all() for t in payload["model"].values())


def test_evaluate_and_predict(data_dir, tmp_path):
    result = api.train(
        "sheet-rnn",
        overrides=quick(**{"train.iters": 40}),
        data_dir=data_dir,
        runs_dir=tmp_path,
        verbose=False,
    )
    ev = api.evaluate(result.checkpoint, data_dir=data_dir)
    assert ev["test_acc"] == pytest.approx(result.metrics["test_acc"], abs=1e-6)
    matrix = torch.tensor(ev["confusion"])
    assert matrix.shape == (10, 10) and matrix.sum() == 200
    assert matrix.diag().sum() / 200 * 100 == pytest.approx(ev["test_acc"], abs=1e-4)
    assert len(ev["per_class_acc"]) == 10
    rows = api.predict(result.checkpoint, indices=[0, 1], data_dir=data_dir)
    assert [r["label"] for r in rows] == ["7", "2"]
    for row in rows:  # the top 3 classes, likeliest first, of one probability distribution
        probs = [p for _, p in row["top"]]
        assert len(row["top"]) == 3 and len({c for c, _ in row["top"]}) == 3
        assert row["top"][0] == (row["predicted"], row["probability"])
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    # the same model on the same images: predict's class is evaluate's
    predicted = [int(r["predicted"]) for r in rows]
    confusion_rows = [matrix[int(r["label"])] for r in rows]
    assert all(row[p] > 0 for row, p in zip(confusion_rows, predicted))


def test_predict_a_png(data_dir, tmp_path):
    from PIL import Image

    from rnnlab.data.images import get_dataset, load_split

    result = api.train(
        "sheet-rnn",
        overrides=quick(**{"train.iters": 60}),
        data_dir=data_dir,
        runs_dir=tmp_path,
        verbose=False,
    )
    x, _ = load_split(data_dir, get_dataset("mnist"), "test")
    png = tmp_path / "digit.png"
    Image.fromarray(255 - x[0]).save(png)  # dark ink on white paper, as people draw digits
    (row,) = api.predict(result.checkpoint, images=[png], data_dir=data_dir)
    (ref,) = api.predict(result.checkpoint, indices=[0], data_dir=data_dir)
    assert row["predicted"] == ref["predicted"]
    assert row["probability"] == pytest.approx(ref["probability"], abs=1e-5)


def test_checkpoint_that_does_not_match_the_model(data_dir, tmp_path):
    result = api.train(
        "sheet-rnn",
        overrides=quick(**{"train.iters": 2}),
        data_dir=data_dir,
        runs_dir=tmp_path,
        verbose=False,
    )
    payload = torch.load(result.checkpoint, weights_only=True)
    payload["config"]["model"]["hidden"] = 64
    bad = tmp_path / "bad.pt"
    torch.save(payload, bad)
    with pytest.raises(CheckpointError, match=r"does not match the model \(rnn.weight_ih_l0 is"):
        api.evaluate(bad, data_dir=data_dir)
    # damaged copies of a real checkpoint: cut short, or an entry removed
    raw = result.checkpoint.read_bytes()
    for size in (100, 5000, len(raw) // 2):
        bad.write_bytes(raw[:size])
        with pytest.raises(CheckpointError, match="damaged or truncated checkpoint"):
            api.evaluate(bad, data_dir=data_dir)
    del payload["model"]
    torch.save(payload, bad)
    with pytest.raises(CheckpointError, match="damaged rnnlab checkpoint .its 'model' entry"):
        api.evaluate(bad, data_dir=data_dir)


def test_unreadable_checkpoints(tmp_path):
    junk = tmp_path / "junk.pt"
    for content in (b"not a checkpoint", b"hello\n", b""):
        junk.write_bytes(content)
        with pytest.raises(
            CheckpointError, match="is not a checkpoint: it is not a PyTorch .pt file"
        ):
            api.evaluate(junk)
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an rnnlab checkpoint"):
        api.evaluate(tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        api.evaluate(tmp_path / "missing.pt")


def test_a_second_ctrl_c_stops_at_once_and_keeps_the_last_checkpoint(
    data_dir, tmp_path, monkeypatch
):
    straight, original = _straight_run_then_ctrl_c_at_30(data_dir, tmp_path, monkeypatch, 2)
    over = CTRL_C_RUN
    with pytest.raises(
        TrainingInterrupted, match=r"stopped at once at iteration 30/40; the last checkpoint"
    ) as caught:
        api.train(
            "sheet-rnn", overrides=over, data_dir=data_dir, runs_dir=tmp_path / "b", verbose=False
        )
    assert "(iteration 20); continue with: rnnlab train --resume" in str(caught.value)
    (run,) = api.runs(tmp_path / "b")
    assert run["status"] == "interrupted" and run["iteration"] == 20
    monkeypatch.setattr(ClassifyTask, "batch", original)
    resumed = api.train(resume=run["checkpoint"], data_dir=data_dir, verbose=False)
    assert_same_parameters(straight.checkpoint, resumed.checkpoint)


def test_resume_goes_on_in_its_own_store_and_never_overwrites_another_run(
    data_dir, tmp_path, monkeypatch, capsys
):
    over = quick(**{"train.iters": 20, "train.eval_every": 10, "model.hidden": 16})
    first = api.train(
        "sheet-rnn", overrides=over, data_dir=data_dir, runs_dir=tmp_path / "y", verbose=False
    )
    # another store, current by default, whose run 1 is a different run
    monkeypatch.setenv("RNNLAB_RUNS", str(tmp_path / "other"))
    api.train("seed-c", overrides=over, data_dir=data_dir, verbose=False)
    config_before = (first.run_dir / "config.toml").read_text()

    # a bad resume writes nothing: too few iterations, a model that does not fit
    with pytest.raises(ConfigError, match="is at iteration 20, past the 10 asked for"):
        api.train(resume=first.checkpoint, overrides={"train.iters": 10}, data_dir=data_dir)
    with pytest.raises(CheckpointError, match="does not match the model"):
        api.train(resume=first.checkpoint, overrides={"model.hidden": 32}, data_dir=data_dir)
    assert (first.run_dir / "config.toml").read_text() == config_before
    assert api.runs(tmp_path / "y")[0]["config"]["model"]["hidden"] == 16

    # resumed without --runs-dir: the store beside the checkpoint's run folder goes on
    capsys.readouterr()
    resumed = api.train(
        resume=first.checkpoint, overrides={"train.iters": 30, "train.lr": 0.002}, data_dir=data_dir
    )
    out = capsys.readouterr().out
    assert "Resuming run 1 at iteration 20" in out
    assert "Changed on resume: train.iters 20 -> 30; train.lr 0.001 -> 0.002" in out
    (row,) = api.runs(tmp_path / "y")
    assert row["iteration"] == 30 and row["config"]["train"]["lr"] == 0.002
    (other,) = api.runs(tmp_path / "other")
    assert other["name"] == "seed-c" and other["iteration"] == 20

    # an older checkpoint of the run (best.pt) starts a new run: last.pt is kept
    best = resumed.run_dir / "best.pt"
    last_before = (resumed.run_dir / "last.pt").read_bytes()
    branch = api.train(resume=best, overrides={"train.iters": 40}, data_dir=data_dir, verbose=False)
    assert branch.run_id == 2 and branch.run_dir != resumed.run_dir
    assert (resumed.run_dir / "last.pt").read_bytes() == last_before
    assert {r["id"]: r["iteration"] for r in api.runs(tmp_path / "y")} == {1: 30, 2: 40}


def test_batch_larger_than_the_data(data_dir, tmp_path):
    with pytest.raises(ConfigError, match="batch_size=5000 is larger than the 1000 training"):
        api.train(
            "seed-c",
            overrides=quick(**{"train.batch_size": 5000}),
            data_dir=data_dir,
            runs_dir=tmp_path,
            verbose=False,
        )


def test_unwritable_runs_folder(data_dir, tmp_path, unwritable_folder):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RnnlabError, match="choose a writable folder with --runs-dir"):
        api.train(
            "seed-c", overrides=quick(), data_dir=data_dir, runs_dir=blocker / "runs", verbose=False
        )
    assert blocker.read_text() == "x"
    # a folder that exists but refuses new files
    runs = unwritable_folder / "runs"
    with pytest.raises(RnnlabError, match=f"cannot write the results store in {runs} .*--runs-dir"):
        api.train("seed-c", overrides=quick(), data_dir=data_dir, runs_dir=runs, verbose=False)
    assert not runs.exists()


def test_save_writes_a_loadable_copy(data_dir, tmp_path):
    target = tmp_path / "rnn.pt"
    result = api.train(
        "lstm-2ep",
        overrides=quick(**{"train.iters": 4, "model.hidden": 8}),
        data_dir=data_dir,
        runs_dir=tmp_path,
        save=target,
        verbose=False,
    )
    info = api.inspect(target)
    assert info["config"]["name"] == "lstm-2ep" and info["total"] > 0
    assert_same_parameters(target, result.checkpoint)  # a copy of the trained model
    copy = api.evaluate(target, data_dir=data_dir)
    assert copy["test_acc"] == pytest.approx(result.metrics["test_acc"], abs=1e-6)


def test_same_seed_same_result_other_seed_differs(data_dir, tmp_path):
    over = quick(**{"model.hidden": 16, "model.dropout": 0.2, "model.layers": 2})
    runs = [
        api.train(
            "sheet-rnn",
            overrides={**over, "seed": s},
            data_dir=data_dir,
            runs_dir=tmp_path,
            verbose=False,
        )
        for s in (5, 5, 6)
    ]
    a, b, c = (params(r.checkpoint) for r in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    assert runs[0].history == [
        {**h, "wall_time": runs[0].history[i]["wall_time"]} for i, h in enumerate(runs[1].history)
    ]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a CPU-only machine")
def test_asking_for_a_missing_gpu(data_dir, tmp_path):
    with pytest.raises(ConfigError, match="no CUDA GPU is available; use --device cpu"):
        api.train(
            "seed-c",
            overrides=quick(device="cuda"),
            data_dir=data_dir,
            runs_dir=tmp_path,
            verbose=False,
        )


def test_an_evaluation_hook_sees_every_evaluation_and_can_stop_the_run(data_dir, tmp_path):
    seen = []

    def hook(iteration, row):
        seen.append((iteration, row["test_acc"]))
        return iteration >= 20  # stop after the second evaluation of three

    result = api.train(
        "sheet-rnn",
        overrides=quick(**{"train.iters": 30}),
        data_dir=data_dir,
        runs_dir=tmp_path,
        verbose=False,
        group="study-1",
        on_evaluate=hook,
    )
    assert [i for i, _ in seen] == [10, 20]
    assert result.status == "stopped" and result.iteration == 20
    (run,) = api.runs(tmp_path, group="study-1")
    assert run["status"] == "stopped" and run["group_name"] == "study-1"
    assert api.runs(tmp_path, group="other") == []


def test_a_store_from_before_groups_gains_the_column(tmp_path):
    import sqlite3

    from rnnlab.results.store import ResultsStore

    # a runs table written before group_name existed (only the columns this test needs)
    with sqlite3.connect(tmp_path / "rnnlab.db") as db:
        db.execute(
            "CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, "
            "task TEXT NOT NULL, status TEXT NOT NULL, created REAL NOT NULL, updated REAL "
            "NOT NULL, config TEXT NOT NULL)"
        )
        db.execute("INSERT INTO runs VALUES (1, 'old', 'classify', 'completed', 0, 0, '{}')")
    store = ResultsStore(tmp_path)
    store.update_run(1, group_name="g", owner="host:1")
    assert [r["name"] for r in store.list_runs(group="g")] == ["old"]


def test_run_name_filter_has_one_wildcard_and_limit_counts_runs(tmp_path):
    from rnnlab.results.store import ResultsStore

    store = ResultsStore(tmp_path)
    for name in ("seed_c", "seedxc", "100%", "1000", "seed-c"):
        store.create_run(name=name, task="classify", config={})
    names = lambda pattern: sorted(r["name"] for r in api.runs(tmp_path, name=pattern))  # noqa: E731
    assert names("seed_c") == ["seed_c"]  # _ is a plain character, not LIKE's any-one
    assert names("100%") == ["100%"]
    assert names("seed*") == ["seed-c", "seed_c", "seedxc"]
    assert [r["name"] for r in api.runs(tmp_path, limit=2)] == ["seed-c", "1000"]  # newest first
    with pytest.raises(ConfigError, match="limit must be a whole number"):
        api.runs(tmp_path, limit=0)


def test_a_run_whose_process_was_killed_is_not_left_running(tmp_path):
    import socket
    import subprocess
    import sys

    from rnnlab.results.owner import this_process
    from rnnlab.results.store import ResultsStore

    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()  # its pid now names no process (kill -9, a crash, the OOM killer alike)
    host = socket.gethostname()
    store = ResultsStore(tmp_path)
    owners = {
        "killed": f"{host}:{ended.pid}",
        "alive here": this_process(),
        "on another machine": "elsewhere.example:1",
        "before owners": None,
    }
    ids = {name: store.create_run(name=name, task="classify", config={}, owner=owner)
           for name, owner in owners.items()}  # fmt: skip
    status = {r["name"]: r["status"] for r in api.runs(tmp_path)}
    assert status == {
        "killed": "interrupted",
        "alive here": "running",
        "on another machine": "running",
        "before owners": "running",
    }
    assert "its process ended without recording how" in store.get_run(ids["killed"])["message"]


def test_a_training_run_records_its_process(data_dir, tmp_path):
    from rnnlab.results.owner import this_process

    api.train("seed-c", overrides=quick(), data_dir=data_dir, runs_dir=tmp_path, verbose=False)
    (run,) = api.runs(tmp_path)
    assert run["owner"] == this_process() and run["status"] == "completed"


def test_atomic_files_get_the_mode_open_would_give(tmp_path):
    import os

    from rnnlab.results.atomic import atomic_write_text

    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640  # not mkstemp's private 0600


def test_an_interrupted_write_leaves_the_old_file_whole(tmp_path):
    from rnnlab.results.atomic import atomic_write

    target = tmp_path / "last.pt"
    target.write_bytes(b"the good checkpoint")

    def half_then_fail(f):
        f.write(b"half of a new one")
        raise KeyboardInterrupt  # Ctrl-C, a full disk, a crash: mid-write

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, half_then_fail)
    assert target.read_bytes() == b"the good checkpoint"
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left


@pytest.mark.parametrize(
    ("error", "status", "note"),
    [
        (OSError("disk full"), "failed", "disk full"),
        (KeyboardInterrupt(), "interrupted", "user"),
        (BrokenPipeError(32, "Broken pipe"), "interrupted", "reader of its output closed"),
    ],
)
def test_a_run_ended_outside_the_training_loop_is_not_left_running(
    data_dir, tmp_path, monkeypatch, error, status, note
):
    def broken(self, *args, **kwargs):
        raise error

    monkeypatch.setattr(api.Trainer, "__init__", broken)
    with pytest.raises(type(error)):
        api.train("seed-c", overrides=quick(), data_dir=data_dir, runs_dir=tmp_path, verbose=False)
    (run,) = api.runs(tmp_path)
    assert run["status"] == status and note in run["message"]


def test_running_out_of_memory_is_one_line(capsys, monkeypatch, data_dir, tmp_path):
    from rnnlab.cli import main

    def too_big(self):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9e15")

    monkeypatch.setattr(ClassifyTask, "build_model", too_big)
    argv = ["train", "--preset", "seed-c", "--data-dir", str(data_dir), "--runs-dir", str(tmp_path)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("rnnlab: error: out of memory:") and "lower --hidden" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("preset", "extra"),
    [
        ("seed-c", quick()),
        ("seed-c", quick(**{"data.validation": 100})),
        ("charlm-tiny", {"train.iters": 4, "train.eval_every": 4, "data.eval_tokens": 200}),
        ("hihell", {"train.iters": 4, "train.eval_every": 4}),
        ("seq2seq-reverse", {"train.iters": 4, "train.eval_every": 4, "data.train_size": 200,
                             "data.test_size": 50, "model.hidden": 16}),
        ("pos-tiny", {"train.iters": 4, "train.eval_every": 4, "data.train_limit": 50,
                      "data.dev_limit": 20, "data.test_limit": 20}),
    ],
)  # fmt: skip
def test_every_task_records_the_metrics_it_declares(data_dir, tmp_path, preset, extra):
    """compare and sweep check --metric against the declared names before training."""
    result = api.train(preset, overrides=extra, data_dir=data_dir, runs_dir=tmp_path, verbose=False)
    task_cls = get_task_class(result.config.task)
    recorded = [k for k in result.history[-1] if k not in ("iteration", "wall_time")]
    assert sorted(recorded) == sorted(task_cls.metric_names(result.config))
