"""Training throughput: rnnlab against the seeds' own recipe, measured in the same run.

The seeds' recipe (the tutorials' notebooks): torchvision-style MNIST that builds a PIL image
per sample and converts it with ToTensor, a DataLoader(batch 100, shuffle) with no workers,
and the same network in a plain loop. rnnlab: the same network and optimizer through
`rnnlab.train`, with its in-memory data path. Both count training steps only (no
evaluation). Prints samples/s and the ratio as N.NNx.

    python benchmarks/run.py [--quick] [--data-dir D] [--presets seed-c sheet-lstm]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

import rnnlab
from rnnlab.api import make_config
from rnnlab.data.images import get_dataset, load_split
from rnnlab.data.paths import resolve_data_dir


class SeedMNIST(Dataset):
    """What torchvision.datasets.MNIST + transforms.ToTensor() do for every sample."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.data = torch.from_numpy(images)
        self.targets = torch.from_numpy(labels)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int):
        picture = Image.fromarray(self.data[i].numpy(), mode="L")
        array = np.array(picture, copy=True)
        tensor = torch.from_numpy(array).view(28, 28, 1).permute(2, 0, 1).contiguous()
        return tensor.float().div(255), int(self.targets[i])


class SeedModel(nn.Module):
    """The tutorials' model: explicit zero h0 (and c0), last time step, linear readout."""

    def __init__(self, cell: str, hidden: int, layers: int) -> None:
        super().__init__()
        self.cell, self.hidden, self.layers = cell, hidden, layers
        if cell == "lstm":
            self.rnn = nn.LSTM(28, hidden, layers, batch_first=True)
        else:
            self.rnn = nn.RNN(28, hidden, layers, batch_first=True, nonlinearity=cell[4:])
        self.fc = nn.Linear(hidden, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0 = torch.zeros(self.layers, x.size(0), self.hidden).requires_grad_()
        if self.cell == "lstm":
            c0 = torch.zeros(self.layers, x.size(0), self.hidden).requires_grad_()
            out, _ = self.rnn(x, (h0.detach(), c0.detach()))
        else:
            out, _ = self.rnn(x, h0.detach())
        return self.fc(out[:, -1, :])


def seed_recipe(preset: str, images, labels, iters: int) -> float:
    cfg = make_config(preset)
    torch.manual_seed(0)
    model = SeedModel(cfg.model.cell, cfg.model.hidden, cfg.model.layers)
    opt_cls = torch.optim.SGD if cfg.train.optimizer == "sgd" else torch.optim.Adam
    optimizer = opt_cls(model.parameters(), lr=cfg.train.lr)
    loader = DataLoader(SeedMNIST(images, labels), batch_size=100, shuffle=True)
    criterion = nn.CrossEntropyLoss()
    done = 0
    start = time.perf_counter()
    while done < iters:
        for x, y in loader:
            x = x.view(-1, 28, 28).requires_grad_()
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            done += 1
            if done == iters:
                break
    return iters * 100 / (time.perf_counter() - start)


def rnnlab_run(preset: str, data_dir, iters: int, precision: str | None) -> float:
    overrides = {"train.iters": iters, "train.eval_every": iters, "data.test_limit": 100}
    if precision:
        overrides["train.precision"] = precision
    with tempfile.TemporaryDirectory() as runs:
        result = rnnlab.train(
            preset, overrides=overrides, data_dir=data_dir, runs_dir=runs, verbose=False
        )
    return result.samples_per_sec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (CI-sized)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--presets", nargs="+", default=["seed-c", "sheet-lstm"])
    parser.add_argument("--iters", type=int, default=None)
    args = parser.parse_args(argv)
    iters = args.iters or (60 if args.quick else 300)
    data_dir = resolve_data_dir(args.data_dir)
    images, labels = load_split(data_dir, get_dataset("mnist"), "train")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores; "
        f"{iters} iterations of batch 100 each"
    )
    header = f"{'preset':<12} {'variant':<22} {'samples/s':>10} {'vs seeds':>9}"
    print(header)
    print("-" * len(header))
    for preset in args.presets:
        # warm-up so one-time costs (oneDNN primitive creation, allocations) hit neither side
        seed_recipe(preset, images, labels, 5)
        base = seed_recipe(preset, images, labels, iters)
        print(f"{preset:<12} {'seeds recipe (fp32)':<22} {base:>10,.0f} {'1.00x':>9}")
        variants = [("rnnlab fp32", "fp32")]
        cell = make_config(preset).model.cell
        if cell == "lstm":
            variants.append(("rnnlab default (auto)", "auto"))
        for label, precision in variants:
            sps = rnnlab_run(preset, data_dir, iters, precision)
            print(f"{preset:<12} {label:<22} {sps:>10,.0f} {sps / base:>8.2f}x")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
