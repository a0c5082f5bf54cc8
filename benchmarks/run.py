"""Training throughput: rnnlab against the seeds' own recipe, measured in the same run.

The seeds' recipe (the tutorials' notebooks): torchvision-style MNIST that builds a PIL image
per sample and converts it with ToTensor, a DataLoader(batch 100, shuffle) with no workers,
and the same network in a plain loop. rnnlab: the same network and optimizer through
`rnnlab.train`, with its in-memory data path and its malloc settings
(rnnlab.training.allocator). Both count training steps only (no evaluation), after the same
warm-up, each in a fresh process. Two more lines split the gain: rnnlab with glibc's default
malloc, and the seeds' recipe with rnnlab's malloc settings. Prints samples/s and the ratio
as N.NNx. With --device cuda both sides train on the GPU (the seeds' recipe as their GPU
version: the model moved there, each batch copied there) and the malloc lines, CPU-only, are
left out.

    python benchmarks/run.py [--quick] [--data-dir D] [--download] [--presets seed-c sheet-lstm]
                             [--rounds R] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import NoReturn

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

import rnnlab
from rnnlab.api import make_config
from rnnlab.config import RunConfig
from rnnlab.data.download import download_dataset
from rnnlab.data.images import get_dataset, load_split
from rnnlab.data.paths import resolve_data_dir
from rnnlab.errors import RnnlabError
from rnnlab.training.allocator import tune_cpu_allocator
from rnnlab.training.runtime import cpu_bf16_fast


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
        h0 = torch.zeros(self.layers, x.size(0), self.hidden, device=x.device).requires_grad_()
        if self.cell == "lstm":
            c0 = torch.zeros(self.layers, x.size(0), self.hidden, device=x.device)
            c0.requires_grad_()
            out, _ = self.rnn(x, (h0.detach(), c0.detach()))
        else:
            out, _ = self.rnn(x, h0.detach())
        return self.fc(out[:, -1, :])


def seed_recipe(preset: str, images, labels, iters: int, device: str = "cpu") -> float:
    cfg = make_config(preset)
    torch.manual_seed(0)
    model = SeedModel(cfg.model.cell, cfg.model.hidden, cfg.model.layers).to(device)
    opt_cls = torch.optim.SGD if cfg.train.optimizer == "sgd" else torch.optim.Adam
    optimizer = opt_cls(model.parameters(), lr=cfg.train.lr)
    loader = DataLoader(SeedMNIST(images, labels), batch_size=100, shuffle=True)
    criterion = nn.CrossEntropyLoss()
    done = 0
    start = time.perf_counter()
    while done < iters:
        for x, y in loader:
            x, y = x.view(-1, 28, 28).to(device).requires_grad_(), y.to(device)
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            done += 1
            if done == iters:
                break
    if device != "cpu":
        torch.cuda.synchronize()  # the GPU's queued steps belong to the time
    return iters * 100 / (time.perf_counter() - start)


def rnnlab_run(
    preset: str, data_dir, iters: int, precision: str | None, device: str = "cpu"
) -> float:
    overrides = {"train.iters": iters, "train.eval_every": iters, "data.test_limit": 100}
    overrides["device"] = device
    if precision:
        overrides["train.precision"] = precision
    with tempfile.TemporaryDirectory() as runs:
        result = rnnlab.train(
            preset, overrides=overrides, data_dir=data_dir, runs_dir=runs, verbose=False
        )
    return result.samples_per_sec


# (label, side, RNNLAB_MALLOC, precision): each is measured in a fresh process, because the
# malloc settings are process-wide and must not leak from one side into the other.
VARIANTS = [
    ("seeds recipe", "seeds", "default", None),
    ("rnnlab", "rnnlab", "tuned", "fp32"),
    ("rnnlab, glibc malloc", "rnnlab", "default", "fp32"),
    ("seeds + rnnlab malloc", "seeds", "tuned", None),
]


def worker(
    side: str, preset: str, iters: int, data_dir, precision: str | None, device: str
) -> float:
    """One measurement, in this process; both sides get the same short warm-up first."""
    if side == "rnnlab":
        rnnlab_run(preset, data_dir, 5, precision, device)
        return rnnlab_run(preset, data_dir, iters, precision, device)
    tune_cpu_allocator()  # honours RNNLAB_MALLOC, so 'default' leaves glibc alone
    dataset = get_dataset(make_config(preset).data.dataset)  # the data rnnlab's side reads
    images, labels = load_split(data_dir, dataset, "train")
    seed_recipe(preset, images, labels, 5, device)
    return seed_recipe(preset, images, labels, iters, device)


def measure(
    side: str, preset: str, iters: int, data_dir, malloc: str, precision: str | None, device: str
) -> float:
    cmd = [sys.executable, __file__, "--worker", side, "--presets", preset]
    cmd += ["--iters", str(iters), "--data-dir", str(data_dir), "--device", device]
    if precision:
        cmd += ["--precision", precision]
    env = {**os.environ, "RNNLAB_MALLOC": malloc}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        # the worker's last line says why (its one-line error, or a traceback's last line)
        last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise SystemExit(f"benchmark worker ({preset}, {side}) failed: {last}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["samples_per_sec"])


def recipe_differences(cfg: RunConfig) -> list[str]:
    """What of `cfg` the seeds' recipe (SeedModel, SeedMNIST, batch 100, SGD or Adam) does
    not do: any of it would time two different trainings against each other."""
    m, t = cfg.model, cfg.train
    if cfg.task != "classify":
        return [f"task {cfg.task}"]
    found = [
        f"view {cfg.data.view}" if cfg.data.view != "rows" else "",
        "bidirectional" if m.bidirectional else "",
        f"fc_hidden {m.fc_hidden}" if m.fc_hidden else "",
        f"dropout {m.dropout}" if m.dropout else "",
        f"impl {m.impl}" if m.impl != "torch" else "",
        f"batch_size {t.batch_size}" if t.batch_size != 100 else "",
        f"optimizer {t.optimizer}" if t.optimizer not in ("sgd", "adam") else "",
    ]
    return [f for f in found if f]


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad option is one line (not usage + error), as rnnlab's own are."""

    def error(self, message: str) -> NoReturn:
        raise SystemExit(f"benchmarks/run.py: error: {message}; see --help")


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (CI-sized)")
    parser.add_argument(
        "--data-dir", default=None, help="data root (default: $RNNLAB_DATA, else the cache)"
    )
    parser.add_argument(
        "--download",
        action="store_true",
        help="fetch missing data files from the official mirrors first, as train --download does",
    )
    parser.add_argument(
        "--presets", nargs="+", default=["seed-c", "sheet-lstm"], help="presets to measure"
    )
    parser.add_argument(
        "--iters", type=int, default=None, help="iterations per measurement (300; 60 --quick)"
    )
    parser.add_argument("--rounds", type=int, default=None, help="repeats; medians are shown")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--worker", choices=["seeds", "rnnlab"], help=argparse.SUPPRESS)
    parser.add_argument("--precision", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for flag, value in (("--iters", args.iters), ("--rounds", args.rounds)):
        if value is not None and value < 1:  # 0 must not quietly become the default
            parser.error(f"{flag} must be 1 or more, got {value}")
    iters = args.iters or (60 if args.quick else 300)
    rounds = args.rounds or (1 if args.quick else 3)
    data_dir = resolve_data_dir(args.data_dir)
    if args.worker:
        try:
            sps = worker(args.worker, args.presets[0], iters, data_dir, args.precision, args.device)
        except RnnlabError as exc:  # one line for the parent to pass on, not a traceback
            raise SystemExit(f"rnnlab: error: {exc}") from None
        print(json.dumps({"samples_per_sec": sps}))
        return 0

    # every preset and its data checked before the first line of the table: a typo or a
    # missing file is one line, not a traceback or a worker failure after minutes of runs
    for preset in args.presets:
        try:
            cfg = make_config(preset)
        except RnnlabError as exc:
            parser.error(f"--presets: {exc}")
        differences = recipe_differences(cfg)
        if differences:
            parser.error(
                f"--presets {preset}: the seeds' recipe is an MNIST-family classifier on the "
                f"rows view, batch 100, SGD or Adam; it cannot train {', '.join(differences)}, "
                "so the two sides would time different work (try seed-c or sheet-lstm)"
            )
        try:
            if args.download:  # the data's error says "or add --download": this is that flag
                download_dataset(get_dataset(cfg.data.dataset), data_dir)
            load_split(data_dir, get_dataset(cfg.data.dataset), "test")
        except RnnlabError as exc:
            raise SystemExit(f"benchmarks/run.py: error: {exc}") from None

    gpu = args.device != "cpu"
    if gpu and not torch.cuda.is_available():
        raise SystemExit(f"--device {args.device} needs a CUDA GPU, and this torch sees none")
    where = torch.cuda.get_device_name(args.device) if gpu else "CPU"
    print(
        f"{where}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{os.cpu_count()} cores; "
        f"{iters} iterations of batch 100 per measurement, median of {rounds} round(s), "
        "each measurement in a fresh process"
    )
    header = f"{'preset':<12} {'variant':<24} {'samples/s':>10} {'vs seeds':>9}"
    print(header)
    print("-" * len(header))
    for preset in args.presets:
        variants = list(VARIANTS[:2] if gpu else VARIANTS)  # the malloc lines are CPU-only
        if gpu or (make_config(preset).model.cell == "lstm" and cpu_bf16_fast()):
            variants.append(("rnnlab bf16", "rnnlab", "tuned", "bf16"))
        results: dict[str, list[float]] = {label: [] for label, *_ in variants}
        for _ in range(rounds):  # interleaved, so a slow spell of the machine hits every variant
            for label, side, malloc, precision in variants:
                results[label].append(
                    measure(side, preset, iters, data_dir, malloc, precision, args.device)
                )
        base = statistics.median(results[variants[0][0]])
        for label, *_ in variants:
            sps = statistics.median(results[label])
            print(f"{preset:<12} {label:<24} {sps:>10,.0f} {sps / base:>8.2f}x")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
