"""Encoder-decoder on generated problems: reverse or sort digits, add numbers (SPEC.md 4).

Sources and targets are token ids over <pad>, <sos>, <eos> and the problem's characters.
Targets end in <eos> and are right-padded; the loss ignores the padding. Training uses
teacher forcing (data.teacher_forcing is the probability of feeding the true previous token);
evaluation decodes greedily and counts exact matches.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.config import RunConfig
from rnnlab.data import synthetic
from rnnlab.data.seeding import seeded_generator
from rnnlab.errors import ConfigError
from rnnlab.models.seq2seq import ATTENTION_SCORES, EOS, PAD, SOS, SPECIALS, Seq2Seq
from rnnlab.tasks.base import Task, value_text


@dataclass
class Seq2SeqDataConfig:
    problem: str = "reverse"  # reverse | sort | add
    length: int = 10  # reverse / sort: digits per sequence
    digits: int = 3  # add: at most this many digits per number
    train_size: int = 50_000
    test_size: int = 2_000
    data_seed: int = 0  # the generated examples depend on this only, not on the run's seed
    reverse_source: bool = False  # feed the source backwards (helps without attention)
    pad_operands: bool = False  # add: zero-pad both numbers to `digits` ("12+345" -> "012+345")
    reverse_target: bool = False  # emit the answer backwards (addition: units digit first)
    teacher_forcing: float = 1.0  # probability of feeding the true previous target token
    attention_score: str = "dot"  # with model.attention = true: dot | additive
    # With attention: feed the previous attentional vector to the decoder (Luong input feeding).
    input_feeding: bool = False


MAX_ADD_DIGITS = 18  # the sum of two such numbers still fits a 64-bit integer


def source_steps(d: Seq2SeqDataConfig) -> int:
    return 2 * d.digits + 1 if d.problem == "add" else d.length


def target_steps(d: Seq2SeqDataConfig) -> int:
    """Longest target in tokens, <eos> included."""
    return (d.digits + 1 if d.problem == "add" else d.length) + 1


def _make_model(vocab_size: int, config: RunConfig) -> Seq2Seq:
    """The one place the task's data options reach the model (vocabularies may differ:
    a checkpoint brings its own tokens)."""
    d = config.data
    return Seq2Seq(vocab_size, config.model, d.attention_score, d.input_feeding)


class Seq2SeqTask(Task):
    name = "seq2seq"
    DataConfig = Seq2SeqDataConfig
    primary_metric = "exact"
    higher_is_better = True
    dropout_between_layers_only = True
    # the decoder's output goes straight to the token readout; tokens have no spelling
    unused_model_fields = ("fc_hidden", "char_dim", "char_widths")
    # evaluate() scores the generated test pairs; the task generates no validation set
    scoring_data_fields = (
        "data.problem",
        "data.length",
        "data.digits",
        "data.test_size",
        "data.data_seed",
    )
    metric_splits = {
        "train_loss": "training",
        "exact": "test",
        "token_acc": "test",
        "test_loss": "test",
    }

    def __init__(
        self,
        config: RunConfig,
        data_dir: Path | None,
        device: torch.device,
        state: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(config, data_dir, device, state)
        d: Seq2SeqDataConfig = config.data
        own = list(SPECIALS) + list(synthetic.alphabet(d.problem))
        if state and "tokens" in state:
            self.tokens = list(state["tokens"])
            if not set(own) <= set(self.tokens):
                # A resumed run keeps its model, and so its vocabulary: a problem with more
                # characters (reverse -> add) cannot be written with it.
                raise ConfigError(
                    f"data.problem = '{d.problem}' is written with "
                    f"'{synthetic.alphabet(d.problem)}', but this checkpoint's model knows "
                    f"'{''.join(t for t in self.tokens if t not in SPECIALS)}'; a resumed run "
                    "keeps its model's vocabulary: keep data.problem (or train a new run)"
                )
        else:
            self.tokens = own
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self._data: dict[str, Any] | None = None  # generated on first use: translate needs none

    @classmethod
    def validate_config(cls, config: RunConfig) -> None:
        d = config.data
        synthetic.check_problem(d.problem)
        for name in ("length", "digits", "train_size", "test_size"):
            if getattr(d, name) < 1:
                raise ConfigError(f"data.{name} must be at least 1, got {getattr(d, name)}")
        if d.data_seed < 0:  # numpy's generator takes no negative seed
            raise ConfigError(f"data.data_seed must be 0 or more, got {d.data_seed}")
        if d.problem == "add" and d.digits > MAX_ADD_DIGITS:  # operands are drawn as int64
            raise ConfigError(
                f"data.digits must be at most {MAX_ADD_DIGITS} for problem add, got {d.digits}"
            )
        if not 0.0 <= d.teacher_forcing <= 1.0:
            raise ConfigError(f"data.teacher_forcing must be in [0, 1], got {d.teacher_forcing}")
        if d.attention_score not in ATTENTION_SCORES:
            raise ConfigError(
                f"unknown attention score (data.attention_score) '{d.attention_score}'; "
                f"choose one of: {', '.join(ATTENTION_SCORES)}"
            )
        if d.input_feeding and not config.model.attention:
            raise ConfigError(
                "data.input_feeding needs attention: set model.attention = true "
                "(or data.input_feeding = false)"
            )
        if config.train.batch_size > d.train_size:
            raise ConfigError(
                f"train.batch_size={config.train.batch_size} is larger than the "
                f"{d.train_size} training examples; use a smaller batch"
            )

    @classmethod
    def task_notes(cls, config: RunConfig) -> list[str]:
        d, defaults = config.data, Seq2SeqDataConfig()
        problem = f'with problem "{d.problem}"'
        # (field, whether this config leaves it unread, why)
        unread = [
            ("length", d.problem == "add", f"{problem}: add reads data.digits"),
            ("digits", d.problem != "add", f"{problem}: it sizes the numbers of add only"),
            ("pad_operands", d.problem != "add", f"{problem}: it pads the numbers of add only"),
            ("attention_score", not config.model.attention, "without model.attention = true"),
        ]
        return [
            f"Note: data.{name}={value_text(getattr(d, name))} does nothing {why}"
            for name, idle, why in unread
            if idle and getattr(d, name) != getattr(defaults, name)
        ]

    # -- text <-> tokens -----------------------------------------------------------------
    def encode_source(self, text: str) -> list[int]:
        d = self.config.data
        parts = text.split("+")
        if d.pad_operands and d.problem == "add" and len(parts) == 2:
            # Digits of equal weight then sit at fixed positions, which attention finds easily.
            text = "+".join(p.zfill(d.digits) for p in parts)
        ids = [self.index[c] for c in text]
        return ids[::-1] if self.config.data.reverse_source else ids

    def encode_target(self, text: str) -> list[int]:
        ids = [self.index[c] for c in text]
        return (ids[::-1] if self.config.data.reverse_target else ids) + [EOS]

    def decode(self, ids: list[int]) -> str:
        """Characters up to the first <eos>, special tokens dropped."""
        out = []
        for i in ids:
            if i == EOS:
                break
            if i >= len(SPECIALS):
                out.append(self.tokens[i])
        return "".join(out[::-1] if self.config.data.reverse_target else out)

    def unknown_characters(self, text: str) -> list[str]:
        return sorted({c for c in text if c not in self.index or self.index[c] < len(SPECIALS)})

    def unlike_training(self, text: str) -> str | None:
        """Why an input differs in shape from every training example, or None if it does not."""
        d = self.config.data
        shown = _clipped(text)  # the whole of a pasted 10,000-digit input would bury the note
        if d.problem != "add":
            if len(text) == d.length:
                return None
            return f"'{shown}' has {len(text)} digits; this model was trained on exactly {d.length}"
        parts = text.split("+")
        if len(parts) != 2 or not all(parts):
            return f"'{shown}' is not two numbers joined by '+', as every training example was"
        longest = max(len(p) for p in parts)
        if longest <= d.digits:
            if not d.pad_operands and any(len(p) > 1 and p[0] == "0" for p in parts):
                # zero-padded operands are read as written: training numbers had no such zeros
                return (
                    f"'{shown}' has a number with a leading zero; this model was trained on "
                    "numbers written without them"
                )
            return None
        return (
            f"'{shown}' has a {longest}-digit number; this model was trained on numbers "
            f"of at most {d.digits} digits"
        )

    def _tensors(self, sources: list[str], targets: list[str] | None = None):
        d = self.config.data
        encoded = [self.encode_source(s) for s in sources]
        width = max([source_steps(d)] + [len(ids) for ids in encoded])
        src = torch.full((len(sources), width), PAD, dtype=torch.long)
        lengths = torch.tensor([len(ids) for ids in encoded], dtype=torch.long)
        for row, ids in enumerate(encoded):
            src[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        if targets is None:
            return src.to(self.device), lengths.to(self.device)
        tgt = torch.full((len(targets), target_steps(d)), PAD, dtype=torch.long)
        for row, t in enumerate(targets):
            tgt[row, : len(t) + 1] = torch.tensor(self.encode_target(t), dtype=torch.long)
        return src.to(self.device), lengths.to(self.device), tgt.to(self.device)

    # -- data ----------------------------------------------------------------------------
    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            d = self.config.data
            train, test = synthetic.generate(
                d.problem,
                length=d.length,
                digits=d.digits,
                train_size=d.train_size,
                test_size=d.test_size,
                seed=d.data_seed,
            )
            train_t = [synthetic.target_of(d.problem, s) for s in train]
            test_t = [synthetic.target_of(d.problem, s) for s in test]
            self._data = {
                "train_text": (train, train_t),
                "test_text": (test, test_t),
                "train": self._tensors(train, train_t),
                "test": self._tensors(test, test_t),
            }
        return self._data

    @property
    def train_size(self) -> int:
        return self.config.data.train_size

    def batch(self, iteration: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        idx = self.batch_indices(iteration)
        src, lengths, tgt = self.data["train"]
        return src[idx], lengths[idx], tgt[idx]

    # -- model ---------------------------------------------------------------------------
    def build_model(self) -> nn.Module:
        return _make_model(len(self.tokens), self.config)

    @classmethod
    def model_from_config(cls, config: RunConfig) -> nn.Module:
        vocab = len(SPECIALS) + len(synthetic.alphabet(config.data.problem))
        return _make_model(vocab, config)

    def loss(self, model: nn.Module, batch: Any, iteration: int) -> tuple[torch.Tensor, dict]:
        src, lengths, tgt = batch
        ratio = self.config.data.teacher_forcing
        g = None
        if ratio < 1.0:
            # Which steps get the model's own prediction: fixed by (seed, iteration).
            g = seeded_generator(self.config.seed, iteration + 17)
        logits = model(src, lengths, decoder_inputs(tgt), ratio, g).float()
        loss = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=PAD
        )
        return loss, {}

    # -- evaluation ----------------------------------------------------------------------
    @torch.no_grad()
    def greedy_ids(self, model: nn.Module, src: torch.Tensor, lengths: torch.Tensor, max_len: int):
        """Greedy decodes (B, max_len), padded with <pad> after <eos>."""
        pred, _ = model.greedy(src, lengths, max_len)
        if pred.shape[1] < max_len:
            pred = F.pad(pred, (0, max_len - pred.shape[1]), value=PAD)
        return pred

    @classmethod
    def metric_names(cls, config: RunConfig) -> list[str]:
        return ["train_loss", "exact", "token_acc", "test_loss"]

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        was_training = model.training
        model.eval()
        src, lengths, tgt = self.data["test"]
        b = self.config.train.eval_batch_size
        loss_sum = tokens = correct_tokens = exact = 0.0
        for i in range(0, len(src), b):
            s, n, t = src[i : i + b], lengths[i : i + b], tgt[i : i + b]
            logits = model(s, n, decoder_inputs(t)).float()
            loss_sum += F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]),
                t.reshape(-1),
                ignore_index=PAD,
                reduction="sum",
            ).item()
            mask = t != PAD
            pred = self.greedy_ids(model, s, n, t.shape[1])
            hit = pred == t
            tokens += mask.sum().item()
            correct_tokens += (hit & mask).sum().item()
            exact += (hit | ~mask).all(1).sum().item()
        model.train(was_training)
        return {
            "exact": 100.0 * exact / len(src),
            "token_acc": 100.0 * correct_tokens / max(1, tokens),
            "test_loss": loss_sum / max(1, tokens),
        }

    def format_metrics(self, metrics: dict[str, float]) -> str:
        return (
            f"Exact match: {metrics['exact']:.2f} %. Token accuracy: {metrics['token_acc']:.2f} %. "
            f"Test loss: {metrics['test_loss']:.4f}"
        )

    def translate(self, model: nn.Module, texts: list[str]) -> list[str]:
        """Greedy answers for source strings (characters already checked)."""
        was_training = model.training
        model.eval()
        src, lengths = self._tensors(texts)
        max_len = max(target_steps(self.config.data), max(len(t) for t in texts) + 1)
        pred = self.greedy_ids(model, src, lengths, max_len)
        model.train(was_training)
        return [self.decode(row) for row in pred.tolist()]

    def on_eval(self, model: nn.Module, iteration: int) -> str | None:
        sources, targets = self.data["test_text"]
        shown = list(zip(sources[:3], targets[:3]))
        answers = self.translate(model, [s for s, _ in shown])
        return "\n".join(
            f"  {s} -> {a}" + ("" if a == t else f"  (expected {t})")
            for (s, t), a in zip(shown, answers)
        )

    # -- checkpoints ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "tokens": list(self.tokens)}

    def describe(self) -> str:
        d = self.config.data
        what = {
            "reverse": f"reverse {d.length} digits",
            "sort": f"sort {d.length} digits",
            "add": f"add numbers of up to {d.digits} digits",
        }[d.problem]
        sources, targets = self.data["train_text"]
        n_test = len(self.data["test_text"][0])
        # a small problem cannot fill the sizes asked for, and addition repeats its short
        # sums (synthetic._with_floor): say so where the sizes are shown
        distinct = len(set(sources))
        train = f"{len(sources)} training" + (
            f" ({distinct} distinct)" if distinct < len(sources) else ""
        )
        test = f"{n_test} test pairs"
        if n_test < d.test_size:
            space = synthetic.space_size(d.problem, d.length, d.digits)
            test += f" (not {d.test_size}: the problem has {space:,} distinct inputs)"
        return f"{what}: {train}, {test} (e.g. {sources[0]} -> {targets[0]})"


def decoder_inputs(tgt: torch.Tensor) -> torch.Tensor:
    """<sos> followed by the target shifted right by one (teacher forcing inputs)."""
    sos = torch.full_like(tgt[:, :1], SOS)
    return torch.cat([sos, tgt[:, :-1]], dim=1)


def _clipped(text: str, keep: int = 20) -> str:
    """A long input as its two ends, for a one-line message."""
    if len(text) <= 2 * keep + 3:
        return text
    return f"{text[:keep]}...{text[-keep:]}"
