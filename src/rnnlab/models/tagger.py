"""Sequence tagger: one label per word (SPEC.md section 5, part-of-speech tagging).

words -> nn.Embedding (+ character features) -> recurrent core -> linear -> tag logits.

Padding never changes a real word's output: with the torch cells the recurrent core reads
packed sequences, so a sentence's backward direction starts at its own last word, not at the
batch's padding; other implementations get the batch split into groups of equal length
(no padding at all). Character features are computed once per distinct word form in the
batch with a masked max over positions, so they do not depend on padding either.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnlab.config import ModelConfig
from rnnlab.models.recurrent import from_config, recurrent_output_size


def _small_embedding(n: int, dim: int) -> nn.Embedding:
    """nn.Embedding starts at N(0, 1): vectors of norm ~sqrt(dim) that saturate the LSTM's
    gates and made training several times slower here; N(0, 1/dim) gives norm ~1."""
    emb = nn.Embedding(n, dim, padding_idx=0)
    with torch.no_grad():
        emb.weight.normal_(0.0, dim**-0.5)
        emb.weight[0].zero_()
    return emb


def parse_widths(text: str) -> tuple[int, ...]:
    """ "2,3,4" -> (2, 3, 4); ValueError on anything else."""
    widths = tuple(int(part) for part in text.split(","))
    if not widths or min(widths) < 1:
        raise ValueError(text)
    return widths


class CharCNN(nn.Module):
    """A word's spelling -> a vector: character embeddings, convolutions of one or several
    widths and a max over positions. Suffixes ("-ly", "-ing"), capitals and digits are what
    unknown words have to go by; the begin/end-of-word markers let the filters see where a
    word ends. With several widths the `dim` filters are shared out among them."""

    def __init__(self, n_chars: int, dim: int, widths: tuple[int, ...] = (3,)) -> None:
        super().__init__()
        self.embedding = _small_embedding(n_chars, dim)
        sizes = [dim // len(widths)] * len(widths)
        sizes[0] += dim - sum(sizes)
        convs = [nn.Conv1d(dim, n, kernel_size=w, padding=w // 2) for w, n in zip(widths, sizes)]
        # the first keeps the name "conv", so one-width checkpoints keep their parameter names
        self.conv = convs[0]
        self.more = nn.ModuleList(convs[1:])

    def forward(self, chars: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # chars (U, L) with 0 = padding (a zero vector, like the convolution's own padding,
        # so a word's features do not depend on the batch); lengths (U,) >= 1
        x = self.embedding(chars).transpose(1, 2)  # (U, dim, L)
        steps = chars.shape[1]
        pad = torch.arange(steps, device=chars.device)[None, :] >= lengths[:, None]
        # even widths give L + 1 outputs; the first L cover every window with a real character
        convs = (self.conv, *self.more)
        h = torch.cat([torch.relu(conv(x)[:, :, :steps]) for conv in convs], dim=1)
        return h.masked_fill(pad[:, None, :], float("-inf")).amax(dim=2)


class Tagger(nn.Module):
    def __init__(self, n_words: int, n_chars: int, n_tags: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        width = 0
        self.embedding = None
        if cfg.embedding_dim > 0:
            self.embedding = _small_embedding(n_words, cfg.embedding_dim)
            width += cfg.embedding_dim
        self.chars = None
        if cfg.char_dim > 0:
            self.chars = CharCNN(n_chars, cfg.char_dim, parse_widths(cfg.char_widths))
        width += cfg.char_dim
        self.dropout = nn.Dropout(cfg.dropout)
        self.rnn = from_config(cfg, width)
        out = recurrent_output_size(cfg)
        self.fc = None
        if cfg.fc_hidden > 0:
            self.fc = nn.Sequential(nn.Linear(out, cfg.fc_hidden), nn.ReLU(), self.dropout)
            out = cfg.fc_hidden
        self.readout = nn.Linear(out, n_tags)

    def forward(
        self,
        words: torch.Tensor,
        lengths: torch.Tensor,
        chars: torch.Tensor | None = None,
        char_lengths: torch.Tensor | None = None,
        forms: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """words (B, T) word ids, lengths (B,) real lengths; chars (U, L) / char_lengths (U,)
        spell the U distinct forms of the batch and forms (B, T) indexes them.
        Returns logits (B, T, tags); positions past a sentence's length are zero."""
        parts = []
        if self.embedding is not None:
            parts.append(self.embedding(words))
        if self.chars is not None:
            parts.append(self.chars(chars, char_lengths)[forms])
        x = self.dropout(torch.cat(parts, dim=-1))
        h = self._recurrent(x, lengths)
        h = self.dropout(h)
        if self.fc is not None:
            h = self.fc(h)
        return self.readout(h)

    def _recurrent(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        steps = x.shape[1]
        lengths_cpu = lengths.cpu()
        if self.cfg.impl == "torch":
            packed = pack_padded_sequence(x, lengths_cpu, batch_first=True, enforce_sorted=False)
            out, _ = self.rnn(packed)
            h, _ = pad_packed_sequence(out, batch_first=True, total_length=steps)
            return h
        # Implementations without packed-sequence support: run each group of equal-length
        # sentences unpadded, then put the rows back in place.
        h = x.new_zeros(x.shape[0], steps, recurrent_output_size(self.cfg))
        for n in torch.unique(lengths_cpu).tolist():
            rows = (lengths_cpu == n).nonzero().squeeze(1).to(x.device)
            out = self.rnn(x[rows, :n])
            out = out[0] if isinstance(out, tuple) else out
            h[rows, :n] = out.to(h.dtype)
        return h
