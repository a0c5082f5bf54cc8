"""Image classification read as a sequence: MNIST / Fashion-MNIST by rows, pixels or
permuted pixels (SPEC.md section 1)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.config import RunConfig
from rnnlab.data import images as img
from rnnlab.data.seeding import ORDERS
from rnnlab.errors import ConfigError, DataError
from rnnlab.models.classifier import SequenceClassifier
from rnnlab.tasks.base import Task

# The validation split does not depend on the run's seed, so runs over seeds share it.
_SPLIT_SEED = 20251123


@dataclass
class ImageDataConfig:
    dataset: str = "mnist"  # mnist | fashion-mnist
    view: str = "rows"  # rows (28 steps x 28) | pixels (784 x 1) | permuted (784 x 1, shuffled)
    validation: int = 0  # training images held out as a validation set
    permutation_seed: int = 0  # the fixed pixel order of the "permuted" view
    train_limit: int = 0  # use only the first N training images (quick runs); 0 = all
    test_limit: int = 0  # evaluate on only the first N test images; 0 = all
    download: bool = False  # fetch missing files from the official mirrors
    # "seeded": each epoch's order from (seed, epoch) alone, the same for every model;
    # "dataloader": drawn like DataLoader(shuffle=True) after torch.manual_seed(seed), so a
    # seed gives the tutorials' script's run with that seed
    order: str = "seeded"


class ClassifyTask(Task):
    name = "classify"
    DataConfig = ImageDataConfig
    primary_metric = "test_acc"
    higher_is_better = True
    dropout_between_layers_only = True
    # pixels (or rows of them) go straight into the recurrent core: no tokens, no decoder
    unused_model_fields = ("embedding_dim", "char_dim", "char_widths", "attention")
    # val_* exist only with data.validation > 0 (images held out of the training set)
    scoring_data_fields = ("data.dataset", "data.validation", "data.train_limit")
    metric_splits = {
        "train_loss": "training",
        "val_loss": "validation",
        "val_acc": "validation",
        "test_loss": "test",
        "test_acc": "test",
    }

    @property
    def selection_metric(self) -> str:
        # with images held out of training, best.pt is chosen on them, not on the test set
        return "val_acc" if self.val_x is not None else self.primary_metric

    def __init__(
        self,
        config: RunConfig,
        data_dir: Path | None,
        device: torch.device,
        state: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(config, data_dir, device, state)
        d: ImageDataConfig = config.data
        self.dataset = img.get_dataset(d.dataset)
        self._fetch(data_dir)
        train_x, train_y = img.load_split(data_dir, self.dataset, "train")
        test_x, test_y = img.load_split(data_dir, self.dataset, "test")
        if train_x.shape[1:] != test_x.shape[1:]:
            raise DataError(
                f"{self.dataset.name} training images are {'x'.join(map(str, train_x.shape[1:]))} "
                f"but test images are {'x'.join(map(str, test_x.shape[1:]))}; the files in "
                f"{img.raw_folder(data_dir, self.dataset)} come from different data sets"
            )
        if d.train_limit:
            train_x, train_y = train_x[: d.train_limit], train_y[: d.train_limit]
        if d.test_limit:
            test_x, test_y = test_x[: d.test_limit], test_y[: d.test_limit]
        self._set_shape(*train_x.shape[1:], state)

        if d.validation >= len(train_x):
            raise ConfigError(
                f"data.validation={d.validation} leaves no training images "
                f"(only {len(train_x)}); use a smaller validation split"
            )
        order = np.random.default_rng(_SPLIT_SEED).permutation(len(train_x))
        val_idx, train_idx = order[: d.validation], order[d.validation :]
        if d.validation:
            self.val_x = torch.from_numpy(train_x[np.sort(val_idx)]).to(device)
            self.val_y = torch.from_numpy(train_y[np.sort(val_idx)]).to(device)
            train_x, train_y = train_x[np.sort(train_idx)], train_y[np.sort(train_idx)]
        else:
            self.val_x = self.val_y = None
        # Decoded once, kept as uint8 on the training device; batches are index lookups.
        self.train_x = torch.from_numpy(np.ascontiguousarray(train_x)).to(device)
        self.train_y = torch.from_numpy(train_y).to(device)
        self.test_x = torch.from_numpy(np.ascontiguousarray(test_x)).to(device)
        self.test_y = torch.from_numpy(test_y).to(device)
        if config.train.batch_size > len(self.train_x):
            raise ConfigError(
                f"train.batch_size={config.train.batch_size} is larger than the "
                f"{len(self.train_x)} training images; use a smaller batch"
            )

    def _fetch(self, data_dir: Path | None) -> None:
        """Download the data set into `data_dir` first when the config asks for it."""
        if self.config.data.download:
            from rnnlab.data.download import download_dataset

            download_dataset(self.dataset, data_dir)

    def full_test_split(self, data_dir: Path | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The data set's whole test split, on the CPU: test[i] is its i-th image, also
        beyond the run's data.test_limit (which only shortened its evaluations)."""
        self._fetch(data_dir)
        x, y = img.load_split(data_dir, self.dataset, "test")
        if x.shape[1:] != (self.height, self.width):
            raise DataError(
                f"the {self.dataset.name} test images in {img.raw_folder(data_dir, self.dataset)} "
                f"are {x.shape[1]}x{x.shape[2]} pixels, but the model reads "
                f"{self.height}x{self.width}"
            )
        return torch.from_numpy(x), torch.from_numpy(y)

    def _set_shape(self, height: int, width: int, state: dict[str, Any] | None) -> None:
        """Image size, sequence shape and (permuted view) the pixel order."""
        d: ImageDataConfig = self.config.data
        self.height, self.width = height, width
        steps, features = img.sequence_shape(d.view, height, width)
        self.input_size, self.steps = features, steps
        if state and "permutation" in state:
            perm = torch.as_tensor(state["permutation"], dtype=torch.long)
        elif d.view == "permuted":
            g = torch.Generator().manual_seed(d.permutation_seed)
            perm = torch.randperm(steps, generator=g)
        else:
            perm = None
        self.permutation = perm
        self._perm_on_device = perm.to(self.device) if perm is not None else None

    @classmethod
    def for_pictures(
        cls, config: RunConfig, device: torch.device, state: dict[str, Any] | None = None
    ) -> ClassifyTask:
        """The task of a checkpoint, for scoring a user's pictures only: no data set is read
        (a checkpoint handed on, with no MNIST files beside it, still predicts a PNG)."""
        task = cls.__new__(cls)
        Task.__init__(task, config, None, device, state)
        task.dataset = img.get_dataset(config.data.dataset)
        task._set_shape(*img.IMAGE_SIZE, state)
        empty = torch.empty((0, *img.IMAGE_SIZE), dtype=torch.uint8, device=device)
        task.train_x = task.test_x = empty
        task.train_y = task.test_y = torch.empty(0, dtype=torch.long, device=device)
        task.val_x = task.val_y = None
        return task

    @classmethod
    def validate_config(cls, config: RunConfig) -> None:
        d = config.data
        img.get_dataset(d.dataset)
        if d.view not in img.VIEWS:
            raise ConfigError(f"unknown view '{d.view}'; choose one of: {', '.join(img.VIEWS)}")
        if d.order not in ORDERS:
            raise ConfigError(f"unknown data.order '{d.order}'; choose one of: {', '.join(ORDERS)}")
        for name in ("validation", "train_limit", "test_limit"):
            if getattr(d, name) < 0:
                raise ConfigError(f"data.{name} must not be negative, got {getattr(d, name)}")

    @classmethod
    def task_notes(cls, config: RunConfig) -> list[str]:
        d = config.data
        if d.view != "permuted" and d.permutation_seed != ImageDataConfig.permutation_seed:
            return [
                f"Note: data.permutation_seed={d.permutation_seed} does nothing with view "
                f'"{d.view}": it orders the pixels of the "permuted" view only'
            ]
        return []

    # -- data ----------------------------------------------------------------------------
    @property
    def train_size(self) -> int:
        return len(self.train_x)

    @property
    def order(self) -> str:
        return self.config.data.order

    @property
    def classes(self) -> tuple[str, ...]:
        return self.dataset.classes

    def batch(self, iteration: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.batch_indices(iteration)
        return self.to_sequence(self.train_x[idx]), self.train_y[idx]

    def to_sequence(self, images_uint8: torch.Tensor) -> torch.Tensor:
        return img.as_sequence(images_uint8, self.config.data.view, self._perm_on_device)

    # -- model ---------------------------------------------------------------------------
    def build_model(self) -> nn.Module:
        return SequenceClassifier(self.input_size, len(self.classes), self.config.model)

    @classmethod
    def model_from_config(cls, config: RunConfig) -> nn.Module:
        """The model for a config, from shapes alone (used by `rnnlab inspect PRESET`)."""
        _, features = img.sequence_shape(config.data.view)
        classes = len(img.get_dataset(config.data.dataset).classes)
        return SequenceClassifier(features, classes, config.model)

    def loss(self, model: nn.Module, batch: Any, iteration: int) -> tuple[torch.Tensor, dict]:
        x, y = batch
        logits = model(x)
        return F.cross_entropy(logits.float(), y), {}

    # -- evaluation ----------------------------------------------------------------------
    @torch.no_grad()
    def predict_logits(self, model: nn.Module, images_uint8: torch.Tensor) -> torch.Tensor:
        was_training = model.training
        model.eval()
        b = self.config.train.eval_batch_size
        out = [
            model(self.to_sequence(images_uint8[i : i + b])).float()
            for i in range(0, len(images_uint8), b)
        ]
        model.train(was_training)
        return torch.cat(out) if out else torch.empty(0, len(self.classes))

    @classmethod
    def metric_names(cls, config: RunConfig) -> list[str]:
        held = ["val_loss", "val_acc"] if config.data.validation else []
        return ["train_loss", *held, "test_loss", "test_acc"]

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        metrics: dict[str, float] = {}
        splits = [("val", self.val_x, self.val_y)] if self.val_x is not None else []
        splits.append(("test", self.test_x, self.test_y))
        for split, x, y in splits:
            logits = self.predict_logits(model, x)
            metrics[f"{split}_loss"] = F.cross_entropy(logits, y).item()
            # counted in integers: a float32 mean records 20 % as 20.000000298023224
            correct = int((logits.argmax(1) == y).sum())
            metrics[f"{split}_acc"] = 100.0 * correct / len(y)
        return metrics

    def format_metrics(self, metrics: dict[str, float]) -> str:
        parts = []
        if "val_acc" in metrics:
            parts.append(f"Val accuracy: {metrics['val_acc']:.2f}")
        parts.append(f"Test accuracy: {metrics['test_acc']:.2f}")
        return ". ".join(parts)

    @torch.no_grad()
    def confusion(self, model: nn.Module) -> torch.Tensor:
        """Confusion matrix on the test set: rows = true class, columns = predicted."""
        pred = self.predict_logits(model, self.test_x).argmax(1).cpu()
        n = len(self.classes)
        true = self.test_y.cpu()
        return torch.bincount(true * n + pred, minlength=n * n).reshape(n, n)

    # -- checkpoints ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = {**super().state_dict(), "classes": list(self.classes)}
        if self.permutation is not None:
            state["permutation"] = self.permutation.tolist()
        return state

    def describe(self) -> str:
        d = self.config.data
        val = f", {len(self.val_x)} validation" if self.val_x is not None else ""
        return (
            f"{self.dataset.name}: {self.train_size} training{val}, {len(self.test_x)} test "
            f"images read as {self.steps} steps x {self.input_size} features ({d.view})"
        )
