"""Where the random order of the training data comes from.

Two ways, chosen per task (`data.order` for image classification):

- `seeded_generator(seed, salt)`: each epoch's order is a function of the run's seed and the
  epoch alone. Runs of different models with the same seed see the same batches, which makes
  comparisons between models paired.
- `LoaderDraws`: the order is drawn from torch's global generator exactly where
  `torch.utils.data.DataLoader(shuffle=True)` draws it. After `torch.manual_seed(seed)` the
  same generator has initialised the weights, so a run is, draw for draw, the tutorials'
  script started with the same `torch.manual_seed`.
"""

from __future__ import annotations

from typing import Any

import torch

ORDERS = ("dataloader", "seeded")


def seeded_generator(seed: int, salt: int) -> torch.Generator:
    """A CPU generator for one (seed, salt) pair, e.g. salt = epoch or iteration.

    Draws made with it depend on nothing else, which is what lets a resumed run see exactly
    the batches it would have seen without the interruption.
    """
    # torch takes seeds below 2**64; any seed check_seed allows (up to 2**63-1) must fit.
    return torch.Generator().manual_seed((seed * 1_000_003 + salt) % 2**64)


def _global_draw() -> int:
    # The one call DataLoader makes for each seed it needs (torch/utils/data: a 64-bit
    # integer from the default CPU generator).
    return int(torch.empty((), dtype=torch.int64).random_().item())


class LoaderDraws:
    """The global-generator draws of the tutorials' script: a training
    DataLoader(shuffle=True), and a pass over a test DataLoader every `eval_every` steps.

    Each epoch a DataLoader iterator draws its workers' base seed, then RandomSampler draws
    the seed of the epoch's permutation; each test pass draws one base seed. The draws are
    tied to iteration numbers, not to calls, so an extra evaluation (at the end of a run)
    changes nothing, and the state below plus the generator's state in the checkpoint let a
    resumed run go on with the same batches.
    """

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        state = state or {}
        self.epoch: int | None = state.get("epoch")
        self.seed: int | None = state.get("seed")
        self.done = int(state.get("done", 0))  # batches whose draws have been made

    def advance_to(self, iteration: int, per_epoch: int, eval_every: int) -> None:
        """Make the draws the script makes before it forms batch `iteration` (0-based)."""
        while self.done <= iteration:
            i = self.done
            if i > 0 and i % eval_every == 0:
                _global_draw()  # the test pass after step i
            if i % per_epoch == 0:
                _global_draw()  # the training iterator's base seed
                self.epoch, self.seed = i // per_epoch, _global_draw()
            self.done = i + 1

    def generator(self, epoch: int) -> torch.Generator:
        """The generator of this epoch's permutation (after `advance_to` reached it)."""
        if epoch != self.epoch or self.seed is None:
            raise RuntimeError(f"epoch {epoch} has not been drawn (at epoch {self.epoch})")
        return torch.Generator().manual_seed(self.seed)

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "seed": self.seed, "done": self.done}
