"""What a task is: the data, model, loss and metrics behind one kind of experiment.

The trainer, checkpoints, results store and CLI are shared by every task; a task only says
how to build its model, how to form batch number `i` and how to score a model. The
training order is reproducible from the seed (see `rnnlab.data.seeding`), and what it
depends on is in the checkpoint, so a resumed run sees exactly the batches it would have
seen without the interruption.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from rnnlab.config import ModelConfig, RunConfig, TrainConfig
from rnnlab.data.seeding import LoaderDraws, seeded_generator
from rnnlab.errors import ConfigError


@dataclass
class NoData:
    """Data section of tasks that generate their own data."""


class Weighted(float):
    """A loss() extra that counts `weight` times in the average the trainer logs over an
    evaluation window (a batch's accuracy weighted by its tokens, so the average counts
    tokens as held-out accuracies do); a plain number counts once per batch."""

    weight: float

    def __new__(cls, value: float, weight: float) -> Weighted:
        obj = super().__new__(cls, value)
        obj.weight = float(weight)
        return obj


class Task:
    """Base class; subclasses are registered in `rnnlab.tasks.TASKS` under `name`."""

    name: ClassVar[str] = ""
    DataConfig: ClassVar[type] = NoData
    primary_metric: ClassVar[str] = "test_acc"  # the metric a run reports and is compared on
    higher_is_better: ClassVar[bool] = True
    # The data each recorded metric is measured on: "training", "validation" (held out from
    # training, fit to tune on) or "test" (for reporting only). A sweep reads this to tune
    # only on validation data and to say honestly where its objective comes from; names
    # missing here follow their prefix (see `metric_split`).
    metric_splits: ClassVar[dict[str, str]] = {}
    # The data fields that choose the examples the task's metrics are measured on (its
    # validation data; test or training data where it has none): a sweep may not vary them,
    # as trials scored on different examples could not be ranked.
    scoring_data_fields: ClassVar[tuple[str, ...]] = ()

    @property
    def selection_metric(self) -> str:
        """The metric that picks best.pt: the primary one, unless the task holds data out of
        training to choose on (then never the test set)."""
        return self.primary_metric

    def __init__(
        self,
        config: RunConfig,
        data_dir: Path | None,
        device: torch.device,
        state: dict[str, Any] | None = None,
    ) -> None:
        """Load or generate the data. `state` is what `state_dict()` returned in an earlier
        process (a vocabulary, a permutation): restoring it keeps inputs mapped the same way."""
        self.config = config
        self.data_dir = data_dir
        self.device = device
        self._epoch_order: tuple[int, torch.Tensor] | None = None  # (epoch, permutation)
        self.loader_draws = LoaderDraws((state or {}).get("loader_order"))

    # -- configuration -------------------------------------------------------------------
    @classmethod
    def validate_config(cls, config: RunConfig) -> None:
        """Raise ConfigError for settings this task cannot use."""

    # True where model.dropout acts only between stacked recurrent layers
    dropout_between_layers_only: ClassVar[bool] = False
    # Model fields this task's model never reads. They stay valid (a checkpoint or a saved
    # config that holds one must still load), so a value other than the field's default
    # gets a note instead of a refusal.
    unused_model_fields: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def config_notes(cls, config: RunConfig, total: int | None = None) -> list[str]:
        """Settings that are valid but do nothing here, said once at the start of a run.
        `total` is the run's length in iterations where known (train.epochs needs the data
        to count them); without it a run by epochs is not checked against train.warmup.
        Only values other than a field's default are noted: a config written out with
        every field (a run folder's config.toml) brings no notes of its own."""
        m = config.model
        notes: list[str] = []
        if cls.dropout_between_layers_only and m.dropout > 0 and m.layers == 1:
            notes.append(
                f"Note: model.dropout={m.dropout:g} does nothing with 1 layer: {cls.name} "
                "models drop out between stacked recurrent layers only (--layers 2 or more)"
            )
        defaults = ModelConfig()
        for name in cls.unused_model_fields:
            value, default = getattr(m, name), getattr(defaults, name)
            if value != default:
                notes.append(
                    f"Note: model.{name}={value_text(value)} does nothing in a {cls.name} run: "
                    f"only {_users_of(name)} models use it (its default is {value_text(default)})"
                )
        return notes + cls.task_notes(config) + training_notes(config, total)

    @classmethod
    def task_notes(cls, config: RunConfig) -> list[str]:
        """Notes on settings that only some of a task's configs use (a data field that one
        problem reads and another does not)."""
        return []

    @classmethod
    def metric_names(cls, config: RunConfig) -> list[str]:
        """Every metric a run of this config records at each evaluation (training ones
        included), known before training so a mistyped --metric is caught up front."""
        raise NotImplementedError

    @classmethod
    def check_metric(cls, config: RunConfig, metric: str, flag: str = "--metric") -> None:
        names = cls.metric_names(config)
        if metric not in names:
            raise ConfigError(
                f"{flag} {metric}: {cls.name} runs of this config record no such metric; "
                f"choose one of: {', '.join(names)}"
            )

    @classmethod
    def metric_split(cls, config: RunConfig, metric: str) -> str:
        """The data `metric` is measured on: "training", "validation" or "test"."""
        if metric in cls.metric_splits:
            return cls.metric_splits[metric]
        if metric.startswith("train_"):
            return "training"
        if metric.startswith(("val_", "dev_")):
            return "validation"
        # evaluate() scores held-out data; an undeclared metric is read as the test set's,
        # the cautious reading (a sweep will not tune on it while validation data exists)
        return "test"

    # -- data ----------------------------------------------------------------------------
    @property
    def train_size(self) -> int:
        """Training samples in one epoch (turns train.epochs into iterations)."""
        raise NotImplementedError

    def batches_per_epoch(self) -> int:
        b = self.config.train.batch_size
        return max(1, -(-self.train_size // b))

    @property
    def order(self) -> str:
        """How epoch orders are drawn: "seeded" (from the seed and epoch alone) or
        "dataloader" (from torch's global generator, as DataLoader(shuffle=True) does)."""
        return "seeded"

    def batch_indices(self, iteration: int) -> torch.Tensor:
        """Which training samples form batch `iteration` (0-based), on the task's device."""
        per_epoch = self.batches_per_epoch()
        epoch, step = divmod(iteration, per_epoch)
        if self.order == "dataloader":
            self.loader_draws.advance_to(iteration, per_epoch, self.config.train.eval_every)
        b = self.config.train.batch_size
        return self.epoch_order(epoch)[step * b : (step + 1) * b]

    def epoch_order(self, epoch: int) -> torch.Tensor:
        """The training samples' order in one epoch, on the task's device."""
        if self._epoch_order is None or self._epoch_order[0] != epoch:
            if self.order == "dataloader":
                g = self.loader_draws.generator(epoch)
            else:
                g = seeded_generator(self.config.seed, epoch)
            order = torch.randperm(self.train_size, generator=g).to(self.device)
            self._epoch_order = (epoch, order)
        return self._epoch_order[1]

    def prepare_training(self) -> None:
        """Called once before a run's first training step, new or resumed: read what its
        training and evaluations need that building the task did not (a task built for
        inference, `rnnlab tag`, reads no data), so a bad file stops it before any step."""

    def batch(self, iteration: int) -> Any:
        """The training batch for this iteration (0-based), deterministic given the seed."""
        raise NotImplementedError

    # -- model ---------------------------------------------------------------------------
    def build_model(self) -> nn.Module:
        raise NotImplementedError

    def loss(self, model: nn.Module, batch: Any, iteration: int) -> tuple[torch.Tensor, dict]:
        """Mean training loss of one batch, plus extra scalars to log (e.g. {"acc": 0.9}),
        each averaged over the batches since the last evaluation (see `Weighted`)."""
        raise NotImplementedError

    # -- evaluation ----------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Metrics on held-out data; must contain `primary_metric`."""
        raise NotImplementedError

    def format_metrics(self, metrics: dict[str, float]) -> str:
        return ". ".join(f"{k}: {_fmt(v)}" for k, v in metrics.items())

    def format_speed(self, samples_per_sec: float) -> str:
        """Training speed in the unit a user of this task thinks in."""
        return self.speed_text(self.config, samples_per_sec)

    @classmethod
    def speed_text(cls, config: RunConfig, samples_per_sec: float) -> str:
        """format_speed for a run known only by its config (a stored run)."""
        return f"{samples_per_sec:,.0f} samples/s"

    def on_eval(self, model: nn.Module, iteration: int) -> str | None:
        """Optional text shown after each evaluation (a sample, a prediction)."""
        return None

    # -- checkpoints ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Plain data (lists, numbers, strings, tensors) needed to rebuild this task.
        Tasks that form batches with `batch_indices` extend this one's dict."""
        if self.order == "dataloader":
            return {"loader_order": self.loader_draws.state_dict()}
        return {}

    def describe(self) -> str:
        """One line about the data, printed when a run starts."""
        return self.name


def metric_higher_is_better(metric: str, task_default: bool = True) -> bool:
    """Whether a larger value of a metric is better, read from its name: losses, perplexities
    and bits or nats per character go down, accuracies go up; any other name follows
    `task_default` (the task's own rule for its primary metric)."""
    lowered = metric.lower()
    if any(word in lowered for word in ("loss", "ppl", "perplexity", "bpc", "nats")):
        return False
    if lowered.endswith("acc") or "accuracy" in lowered:
        return True
    return task_default


def training_notes(config: RunConfig, total: int | None = None) -> list[str]:
    """Notes on train settings that a run accepts but that do nothing (or not what they
    seem to) with the rest of its config."""
    t, defaults = config.train, TrainConfig()
    notes: list[str] = []
    if t.optimizer in ("adam", "adamw") and t.momentum != defaults.momentum:
        # Refusing would break a sweep over optimizer=sgd,adam, or a resume that changes
        # the optimizer, with momentum set once for the sgd runs
        notes.append(
            f"Note: train.momentum={t.momentum:g} does nothing with optimizer {t.optimizer} "
            "(its betas take that part); momentum acts with sgd and rmsprop"
        )
    if t.epochs > 0 and t.iters not in (0, defaults.iters):
        # --iters and --epochs together are refused, and each override clears the other;
        # only a file (or dict) can give both, and epochs wins there, as the schema says
        length = f" ({total:,} iterations)" if total is not None else ""
        notes.append(
            f"Note: train.epochs={t.epochs:g} sets this run's length{length}; train.iters="
            f"{t.iters} is not used (epochs win when both are given: set iters = 0 or drop "
            "epochs)"
        )
    if total is None and t.epochs == 0:
        total = t.iters
    if t.warmup and total is not None and t.warmup >= total:
        # Not refused: a resumed run may be given a shorter length than its warm-up
        peak = t.lr * min(1.0, total / t.warmup)
        after = f", and the {t.schedule} schedule never starts" if t.schedule != "none" else ""
        notes.append(
            f"Note: train.warmup={t.warmup} is not shorter than the run ({total:,} "
            f"iterations): the learning rate rises all run long, to {peak:g} at most "
            f"(train.lr={t.lr:g}){after}; shorten train.warmup or train longer"
        )
    return notes


def value_text(value: Any) -> str:
    """A setting's value as a config file writes it (true, "2,3", 32)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return f"{value:g}" if isinstance(value, float) else str(value)


def _users_of(field: str) -> str:
    """The tasks whose models read a model field, for a note to a task that does not."""
    from rnnlab.tasks import TASKS, get_task_class  # late import: the registry imports tasks

    users = [n for n in TASKS if field not in get_task_class(n).unused_model_fields]
    return users[0] if len(users) == 1 else f"{', '.join(users[:-1])} and {users[-1]}"


def _fmt(v: float) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)
