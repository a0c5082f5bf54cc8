"""Part-of-speech tagging on Universal Dependencies CoNLL-U files (SPEC.md section 5).

Vocabularies (words, characters, tags) come from the training file and travel in the
checkpoint, so a trained tagger maps words the same way later, and `rnnlab tag` needs no
data files at all: the corpora are read only when training or evaluating needs them.

Batch i is a pure function of (seed, i): the epoch's sentence order comes from a generator
seeded by (seed, epoch), and word dropout (known words replaced by <unk>, so the model learns
to lean on spelling) from a generator seeded by (seed, i).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.config import ModelConfig, RunConfig
from rnnlab.data import tagging as tg
from rnnlab.data.seeding import seeded_generator
from rnnlab.errors import ConfigError, DataError
from rnnlab.models.tagger import Tagger, parse_widths
from rnnlab.tasks.base import Task, Weighted, value_text

IGNORE = -100  # tag id of padding positions: cross_entropy's default ignore_index
_BUCKET = 50  # sentences of about the same length are batched together within 50 batches
_TAG_POSITIONS = 50_000  # padded word positions per batch when tagging given sentences


def _length_batches(lengths: list[int], size: int) -> list[list[int]]:
    """Indices of the sentences to tag, in batches of similar length: at most `size`
    sentences and _TAG_POSITIONS padded positions each (a longer sentence goes alone). One
    long sentence among short ones would otherwise pad its whole batch to its length:
    gigabytes for a line of a few thousand words. Tags do not depend on the batching."""
    batches: list[list[int]] = []
    current: list[int] = []
    for i in sorted(range(len(lengths)), key=lengths.__getitem__):
        # ascending lengths: sentence i is the longest of its batch so far
        if current and (len(current) >= size or (len(current) + 1) * lengths[i] > _TAG_POSITIONS):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


@dataclass
class TaggingDataConfig:
    train: str = "ud_english_ewt/en_ewt-ud-train.conllu"  # relative to the data dir
    dev: str = "ud_english_ewt/en_ewt-ud-dev.conllu"
    test: str = "ud_english_ewt/en_ewt-ud-test.conllu"
    min_freq: int = 2  # training words seen fewer times map to <unk>
    lowercase: bool = False  # lowercase words for the word vocabulary (characters keep case)
    word_dropout: float = 0.05  # fraction of known training words replaced by <unk>
    max_word_len: int = 20  # longer words keep their first and last max_word_len/2 characters
    bucket: bool = True  # batch sentences of similar length together (less padding)
    train_limit: int = 0  # first N training sentences (quick runs); 0 = all
    dev_limit: int = 0  # first N dev sentences; 0 = all
    test_limit: int = 0  # first N test sentences; 0 = all


@dataclass
class Encoded:
    """One corpus as ids: per sentence, word ids, form ids (into the task's form table) and
    tag ids; `words` keeps the original tokens for display."""

    words: list[list[str]]
    word_ids: list[torch.Tensor]
    form_ids: list[torch.Tensor]
    tag_ids: list[torch.Tensor]

    def __len__(self) -> int:
        return len(self.words)


class TaggerTask(Task):
    name = "tagger"
    DataConfig = TaggingDataConfig
    primary_metric = "dev_acc"
    higher_is_better = True
    unused_model_fields = ("attention",)  # one tag per word: nothing to attend over
    # dev is the treebank's validation split; oov_acc is measured on dev words too
    scoring_data_fields = ("data.dev", "data.dev_limit")
    metric_splits = {
        "train_loss": "training",
        "train_acc": "training",
        "dev_loss": "validation",
        "dev_acc": "validation",
        "oov_acc": "validation",
        "test_acc": "test",
    }

    def __init__(
        self,
        config: RunConfig,
        data_dir: Path | None,
        device: torch.device,
        state: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(config, data_dir, device, state)
        d: TaggingDataConfig = config.data
        self._splits: dict[str, Encoded] = {}
        train: list[tg.Sentence] | None = None
        if state and "words" in state:
            self.words = list(state["words"])
            self.chars = list(state["chars"])
            self.tags = list(state["tags"])
        else:
            train = self._read("train")
            self.words = tg.word_vocab(train, d.min_freq, d.lowercase)
            self.chars = tg.char_vocab(train)
            self.tags = tg.tag_vocab(train)
        self.word_index = {w: i for i, w in enumerate(self.words)}
        self.char_index = {c: i for i, c in enumerate(self.chars)}
        self.tag_index = {t: i for i, t in enumerate(self.tags)}
        # Form table: every distinct spelling seen so far -> its character ids. Row 0 is the
        # padding form (just the word markers) so padded positions index something valid.
        self.form_index: dict[str, int] = {}
        self.form_chars: list[list[int]] = [[2, 3]]
        self._form_tensor: torch.Tensor | None = None
        self._form_lengths: torch.Tensor | None = None
        if train is not None:
            self._splits["train"] = self._encode(train)
            self.prepare_training()  # a new run: a bad dev or test file stops it before it starts
        self._epoch = -1
        self._batches: list[torch.Tensor] = []

    @classmethod
    def validate_config(cls, config: RunConfig) -> None:
        d, m = config.data, config.model
        for name in ("train_limit", "dev_limit", "test_limit"):
            if getattr(d, name) < 0:
                raise ConfigError(f"data.{name} must not be negative, got {getattr(d, name)}")
        if d.min_freq < 1:
            raise ConfigError(f"data.min_freq must be at least 1, got {d.min_freq}")
        if not 0 <= d.word_dropout < 1:
            raise ConfigError(f"data.word_dropout must be in [0, 1), got {d.word_dropout}")
        if d.max_word_len < 2:
            raise ConfigError(f"data.max_word_len must be at least 2, got {d.max_word_len}")
        try:
            widths = parse_widths(m.char_widths)
        except ValueError:
            raise ConfigError(
                f"model.char_widths must be comma-separated positive integers such as "
                f"'2,3,4', got '{m.char_widths}'"
            ) from None
        if m.char_dim and len(widths) > m.char_dim:
            raise ConfigError(
                f"model.char_widths has {len(widths)} widths but model.char_dim is only "
                f"{m.char_dim}: each width needs at least one filter"
            )
        if m.embedding_dim == 0 and m.char_dim == 0:
            raise ConfigError(
                "the tagger needs word embeddings or character features: set "
                "model.embedding_dim or model.char_dim to a positive number"
            )

    @classmethod
    def task_notes(cls, config: RunConfig) -> list[str]:
        m = config.model
        if m.char_dim == 0 and m.char_widths != ModelConfig.char_widths:
            return [
                f"Note: model.char_widths={value_text(m.char_widths)} does nothing without "
                "character features (model.char_dim=0); set model.char_dim to use them"
            ]
        return []

    # -- data ----------------------------------------------------------------------------
    def _read(self, split: str) -> list[tg.Sentence]:
        d: TaggingDataConfig = self.config.data
        rel = getattr(d, split)
        base = Path(self.data_dir) if self.data_dir is not None else Path(".")
        path = Path(rel) if Path(rel).is_absolute() else base / rel
        hint = (
            f"give the folder that holds {rel} with --data-dir (or $RNNLAB_DATA), "
            f"or set data.{split} to the file's path"
        )
        return tg.read_conllu(path, limit=getattr(d, f"{split}_limit"), hint=hint)

    def split(self, name: str) -> Encoded:
        """The encoded train / dev / test corpus, read on first use."""
        if name not in self._splits:
            self._splits[name] = self._encode(self._read(name))
        return self._splits[name]

    def prepare_training(self) -> None:
        """Read dev and test now, when training is about to start: a missing or malformed
        file found at the first evaluation would cost every step before it (none is saved).
        (`rnnlab tag` never calls this: it needs no data files.)"""
        self.split("train")  # first, so every corpus gets the same form ids as before
        self.split("dev")
        self.split("test")

    def _form(self, word: str) -> int:
        i = self.form_index.get(word)
        if i is None:
            m = self.config.data.max_word_len
            spelled = word if len(word) <= m else word[: m // 2] + word[-(m - m // 2) :]
            ids = [2] + [self.char_index.get(c, 1) for c in spelled] + [3]
            i = self.form_index[word] = len(self.form_chars)
            self.form_chars.append(ids)
            self._form_tensor = None  # rebuilt on next use
        return i

    def word_id(self, word: str) -> int:
        return self.word_index.get(tg.word_key(word, self.config.data.lowercase), 1)

    def encode_words(self, words: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Word ids (unknown -> 1, <unk>) and form ids of one tokenised sentence."""
        word_ids = torch.tensor([self.word_id(w) for w in words], dtype=torch.long)
        form_ids = torch.tensor([self._form(w) for w in words], dtype=torch.long)
        return word_ids, form_ids

    def _encode(self, sentences: list[tg.Sentence]) -> Encoded:
        enc = Encoded([], [], [], [])
        for s in sentences:
            word_ids, form_ids = self.encode_words(s.words)
            enc.words.append(s.words)
            enc.word_ids.append(word_ids)
            enc.form_ids.append(form_ids)
            # tags unseen in training (rare) count as errors: the model cannot predict them
            enc.tag_ids.append(
                torch.tensor([self.tag_index.get(t, IGNORE - 1) for t in s.tags], dtype=torch.long)
            )
        return enc

    def _forms(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._form_tensor is None or len(self._form_tensor) != len(self.form_chars):
            lengths = torch.tensor([len(c) for c in self.form_chars], dtype=torch.long)
            table = torch.zeros(len(self.form_chars), int(lengths.max()), dtype=torch.long)
            for i, ids in enumerate(self.form_chars):
                table[i, : len(ids)] = torch.tensor(ids)
            self._form_tensor, self._form_lengths = table, lengths
        return self._form_tensor, self._form_lengths

    def collate(
        self,
        word_ids: list[torch.Tensor],
        form_ids: list[torch.Tensor],
        tag_ids: list[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, ...]:
        """Pad sentences into one batch: (words, lengths, chars, char_lengths, forms, tags).
        Characters are spelled once per distinct form in the batch."""
        lengths = torch.tensor([len(w) for w in word_ids], dtype=torch.long)
        pad = nn.utils.rnn.pad_sequence
        words = pad(word_ids, batch_first=True, padding_value=0)
        forms = pad(form_ids, batch_first=True, padding_value=0)
        table, table_lengths = self._forms()
        unique, inverse = torch.unique(forms, return_inverse=True)
        char_lengths = table_lengths[unique]
        chars = table[unique, : int(char_lengths.max())]
        if tag_ids is not None:
            tags = pad(tag_ids, batch_first=True, padding_value=IGNORE)
        else:
            tags = torch.full_like(words, IGNORE)
        dev = self.device
        return (
            words.to(dev),
            lengths,  # stays on the CPU: packing wants it there
            chars.to(dev),
            char_lengths.to(dev),
            inverse.to(dev),
            tags.to(dev),
        )

    @property
    def train_size(self) -> int:
        return len(self.split("train"))

    def _epoch_batches(self, epoch: int) -> list[torch.Tensor]:
        if epoch != self._epoch:
            # The same generator then shuffles the length buckets.
            g = seeded_generator(self.config.seed, epoch)
            order = torch.randperm(self.train_size, generator=g)
            b = self.config.train.batch_size
            if self.config.data.bucket:
                lengths = torch.tensor([len(w) for w in self.split("train").word_ids])
                chunks = []
                for start in range(0, len(order), b * _BUCKET):
                    chunk = order[start : start + b * _BUCKET]
                    chunk = chunk[torch.argsort(lengths[chunk], stable=True)]
                    chunks.extend(chunk[i : i + b] for i in range(0, len(chunk), b))
                shuffle = torch.randperm(len(chunks), generator=g).tolist()
                self._batches = [chunks[i] for i in shuffle]
            else:
                self._batches = [order[i : i + b] for i in range(0, len(order), b)]
            self._epoch = epoch
        return self._batches

    def batch(self, iteration: int) -> tuple[torch.Tensor, ...]:
        epoch, step = divmod(iteration, self.batches_per_epoch())
        idx = self._epoch_batches(epoch)[step].tolist()
        data = self.split("train")
        word_ids = [data.word_ids[i] for i in idx]
        p = self.config.data.word_dropout
        if p > 0:
            g = seeded_generator(self.config.seed, 7919 * iteration + 1)
            dropped = []
            for w in word_ids:
                drop = (torch.rand(len(w), generator=g) < p) & (w > 1)
                dropped.append(w.masked_fill(drop, 1))
            word_ids = dropped
        return self.collate(
            word_ids, [data.form_ids[i] for i in idx], [data.tag_ids[i] for i in idx]
        )

    # -- model ---------------------------------------------------------------------------
    def build_model(self) -> nn.Module:
        return Tagger(len(self.words), len(self.chars), len(self.tags), self.config.model)

    @staticmethod
    def forward(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
        words, lengths, chars, char_lengths, forms, _ = batch
        return model(words, lengths, chars, char_lengths, forms)

    def loss(self, model: nn.Module, batch: Any, iteration: int) -> tuple[torch.Tensor, dict]:
        logits = self.forward(model, batch).float()
        tags = batch[-1]
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tags.reshape(-1))
        real = tags != IGNORE
        tokens = int(real.sum())
        correct = int(((logits.argmax(-1) == tags) & real).sum())
        # weighted by its tokens: train_acc counts tokens over the window, as dev_acc does
        return loss, {"acc": Weighted(100.0 * correct / max(1, tokens), tokens)}

    # -- evaluation ----------------------------------------------------------------------
    def _eval_batches(self, data: Encoded):
        # Sorted by length so each batch has little padding; results do not depend on it.
        order = sorted(range(len(data)), key=lambda i: len(data.word_ids[i]))
        b = self.config.train.eval_batch_size
        for start in range(0, len(order), b):
            idx = order[start : start + b]
            yield (
                idx,
                self.collate(
                    [data.word_ids[i] for i in idx],
                    [data.form_ids[i] for i in idx],
                    [data.tag_ids[i] for i in idx],
                ),
            )

    @torch.no_grad()
    def score(self, model: nn.Module, data: Encoded) -> tuple[float, float, float]:
        """(mean loss per token, accuracy in % over real tokens, accuracy in % over the
        out-of-vocabulary tokens: words that map to <unk>; NaN when there are none)."""
        was_training = model.training
        model.eval()
        loss_sum, correct, total, oov_correct, oov_total = 0.0, 0, 0, 0, 0
        for _, batch in self._eval_batches(data):
            logits = self.forward(model, batch).float()
            words, tags = batch[0], batch[-1]
            real = tags != IGNORE
            target = tags.clamp(min=0)  # unseen tags: wrong, and cost as the "0" tag
            token_loss = F.cross_entropy(logits.transpose(1, 2), target, reduction="none")
            loss_sum += token_loss[real].sum().item()
            right = (logits.argmax(-1) == tags) & real
            correct += int(right.sum())
            total += int(real.sum())
            oov = real & (words == 1)
            oov_correct += int((right & oov).sum())
            oov_total += int(oov.sum())
        model.train(was_training)
        oov_acc = 100.0 * oov_correct / oov_total if oov_total else float("nan")
        return loss_sum / max(1, total), 100.0 * correct / max(1, total), oov_acc

    @classmethod
    def metric_names(cls, config: RunConfig) -> list[str]:
        return ["train_loss", "train_acc", "dev_loss", "dev_acc", "oov_acc", "test_acc"]

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        dev_loss, dev_acc, oov_acc = self.score(model, self.split("dev"))
        _, test_acc, _ = self.score(model, self.split("test"))
        # oov_acc: dev words outside the word vocabulary, tagged from spelling and context
        return {"dev_loss": dev_loss, "dev_acc": dev_acc, "oov_acc": oov_acc, "test_acc": test_acc}

    def format_metrics(self, metrics: dict[str, float]) -> str:
        return (
            f"Dev loss: {metrics['dev_loss']:.4f}. Dev accuracy: {metrics['dev_acc']:.2f} "
            f"(unknown words: {metrics.get('oov_acc', float('nan')):.2f}). "
            f"Test accuracy: {metrics['test_acc']:.2f}"
        )

    @torch.no_grad()
    def tag_sentences(self, model: nn.Module, sentences: list[list[str]]) -> list[list[str]]:
        """The predicted tag of every word of every (tokenised) sentence."""
        for i, words in enumerate(sentences):
            if not words:
                raise DataError(f"sentence {i + 1} is empty; give at least one word")
        encoded = [self.encode_words(words) for words in sentences]
        was_training = model.training
        model.eval()
        out: list[list[str]] = [[] for _ in sentences]
        for idx in _length_batches([len(e[0]) for e in encoded], self.config.train.eval_batch_size):
            batch = self.collate([encoded[i][0] for i in idx], [encoded[i][1] for i in idx])
            pred = self.forward(model, batch).argmax(-1).cpu()
            for j, i in enumerate(idx):
                out[i] = [self.tags[k] for k in pred[j, : len(encoded[i][0])].tolist()]
        model.train(was_training)
        return out

    # -- checkpoints ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"words": list(self.words), "chars": list(self.chars), "tags": list(self.tags)}

    def describe(self) -> str:
        return (
            f"{self.train_size} training sentences ({self.config.data.train}); "
            f"{len(self.words)} words, {len(self.chars)} characters, {len(self.tags)} tags"
        )
