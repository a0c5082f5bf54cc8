"""The seeds' MNIST script as the tutorials write it, for checking rnnlab against it.

torch.manual_seed, a shuffled training DataLoader, the seeds' model (benchmarks/run.py's
SeedModel), plain SGD, and a pass over a test DataLoader every `eval_every` iterations.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from benchmarks.run import SeedMNIST, SeedModel
from rnnlab.data.images import get_dataset, load_split


def run_tutorial_script(
    data_dir: Path,
    *,
    dataset: str = "mnist",
    seed: int = 0,
    iters: int = 3000,
    eval_every: int = 500,
    train_limit: int | None = None,
    test_limit: int | None = None,
) -> tuple[dict[str, torch.Tensor], list[float]]:
    """seed-c's recipe (tanh RNN 2x100, SGD lr 0.1, batch 100); the final weights and the test
    accuracy (%) at every evaluation."""
    train_x, train_y = load_split(data_dir, get_dataset(dataset), "train")
    test_x, test_y = load_split(data_dir, get_dataset(dataset), "test")
    train_set = SeedMNIST(train_x[:train_limit], train_y[:train_limit])
    test_set = SeedMNIST(test_x[:test_limit], test_y[:test_limit])

    torch.manual_seed(seed)
    train_loader = DataLoader(train_set, batch_size=100, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=100)
    model = SeedModel("rnn_tanh", 100, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    criterion = nn.CrossEntropyLoss()
    accuracies: list[float] = []
    it = 0
    while it < iters:
        for images, labels in train_loader:
            optimizer.zero_grad()
            criterion(model(images.view(-1, 28, 28).requires_grad_()), labels).backward()
            optimizer.step()
            it += 1
            if it % eval_every == 0:
                correct = 0
                with torch.no_grad():
                    for test_images, test_labels in test_loader:
                        outputs = model(test_images.view(-1, 28, 28))
                        correct += (outputs.argmax(1) == test_labels).sum().item()
                accuracies.append(100 * correct / len(test_set))
            if it == iters:
                break
    return model.state_dict(), accuracies
