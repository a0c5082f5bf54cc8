"""Character corpora for language modelling: reading, vocabulary, truncated-BPTT layout.

The training text is laid out as `streams` parallel, contiguous pieces (one per batch row);
batch `i` is chunk `i % chunks` of every stream, so consecutive batches continue each row
where the previous one stopped and the hidden state can be carried from one to the next.
"""

from __future__ import annotations

from pathlib import Path

import torch

from rnnlab.data.seeding import seeded_generator
from rnnlab.errors import DataError


def resolve_text_path(path: str | Path, data_dir: Path | None) -> Path:
    """Absolute paths are used as they are; relative ones live under the data dir."""
    p = Path(path).expanduser()
    if p.is_absolute() or data_dir is None:
        return p
    return Path(data_dir) / p


def read_text(path: Path, shown: str | None = None) -> str:
    """The whole file as a str; one-line DataError for a missing, empty or non-UTF-8 file."""
    shown = shown or str(path)
    if path.is_dir():
        raise DataError(f"data.path {path} is a folder; give the text file in it")
    if not path.is_file():
        if Path(shown).is_absolute():
            raise DataError(f"text file {path} does not exist; check data.path")
        raise DataError(
            f"text file {path} does not exist; point --data-dir (or $RNNLAB_DATA) at the "
            f"folder that holds {shown}, or give an absolute data.path"
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:  # permission denied, an I/O error
        raise DataError(
            f"cannot read text file {path} ({exc.strerror or exc}); check its permissions"
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path} is not UTF-8 text: invalid byte 0x{raw[exc.start]:02x} at byte offset "
            f"{exc.start}; convert it to UTF-8 (e.g. iconv -t UTF-8)"
        ) from None
    text = text.removeprefix("\ufeff")  # a byte-order mark is not part of the text
    if not text:
        raise DataError(f"text file {path} is empty; a character model needs text to learn from")
    return text


def split_text(text: str, val_fraction: float) -> tuple[str, str]:
    """The last `val_fraction` of the text is validation, the rest training."""
    n_val = int(len(text) * val_fraction)
    return text[: len(text) - n_val], text[len(text) - n_val :]


class Vocab:
    """Characters <-> ids; the sorted set of the training text's characters."""

    def __init__(self, chars: str) -> None:
        self.chars = chars
        self.index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> Vocab:
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def unknown(self, text: str) -> list[str]:
        """Characters of `text` outside the vocabulary, in order of first appearance."""
        return list(dict.fromkeys(c for c in text if c not in self.index))

    def encode(self, text: str, skip_unknown: bool = False) -> torch.Tensor:
        if skip_unknown:
            return torch.tensor([self.index[c] for c in text if c in self.index], dtype=torch.long)
        return torch.tensor([self.index[c] for c in text], dtype=torch.long)

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


class StreamLayout:
    """Truncated-BPTT batches: `streams` contiguous rows of the text, `seq_len` steps a batch.

    Every pass (epoch) starts at a small offset in [0, seq_len) derived from the seed and the
    pass number, so chunk boundaries move between passes; the batch is still a pure function
    of (seed, iteration).
    """

    def __init__(self, ids: torch.Tensor, streams: int, seq_len: int, seed: int = 0) -> None:
        self.ids, self.streams, self.seq_len, self.seed = ids, streams, seq_len, seed
        # Room for the largest offset (seq_len - 1) and the one-step-ahead target.
        self.stream_len = (len(ids) - seq_len) // streams if len(ids) > seq_len else 0
        self.chunks = (self.stream_len - 1) // seq_len if self.stream_len > 1 else 0

    def offset(self, epoch: int) -> int:
        if epoch == 0:
            return 0
        g = seeded_generator(self.seed, epoch)
        return int(torch.randint(0, self.seq_len, (1,), generator=g))

    def starts(self, iteration: int) -> torch.Tensor:
        """Text position of each stream's first input character in this batch."""
        epoch, chunk = divmod(iteration, self.chunks)
        base = self.offset(epoch) + torch.arange(self.streams) * self.stream_len
        return base + chunk * self.seq_len

    def batch(self, iteration: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets), each (streams, seq_len); targets are inputs shifted by one."""
        idx = self.starts(iteration)[:, None] + torch.arange(self.seq_len + 1)
        window = self.ids[idx]
        return window[:, :-1], window[:, 1:]

    def starts_pass(self, iteration: int) -> bool:
        return iteration % self.chunks == 0
