"""Encoder-decoder RNN with optional attention (SPEC.md section 4).

The encoder (any cell, optionally bidirectional, `layers` deep) reads the source tokens; a
bridge turns its final state into the decoder's initial state (both directions of a
bidirectional encoder are concatenated per layer and projected back to `hidden`). The
decoder is a unidirectional stack of the same cell. With attention, each decoder output
attends over the encoder outputs (Luong style: after the recurrent step), so a fully
teacher-forced pass runs the decoder over the whole target in one call. With input feeding
(Luong et al. 2015) the previous step's attentional vector is fed to the decoder beside the
previous token, so what attention read at step t-1 (e.g. a carry in addition) reaches the
recurrent state at step t; the decoder then runs one step at a time.

Sources are right-padded with their lengths given. The fused torch modules read them packed;
the hand-written cells (`impl = "scratch"`) have no packed sequences, so each group of
equal-length sources runs on its own, unpadded: both give the same outputs and final states.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnlab.config import ModelConfig
from rnnlab.errors import ConfigError
from rnnlab.models.recurrent import from_config, make_recurrent

PAD, SOS, EOS = 0, 1, 2
SPECIALS = ("<pad>", "<sos>", "<eos>")
ATTENTION_SCORES = ("dot", "additive")

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


class Attention(nn.Module):
    """Scores each decoder output (query) against every encoder output (key).

    "dot": q . W k (W only when the widths differ, e.g. a bidirectional encoder);
    "additive": v . tanh(Wq q + Wk k). Padding positions get zero weight.
    """

    def __init__(self, score: str, query_size: int, key_size: int) -> None:
        super().__init__()
        if score not in ATTENTION_SCORES:
            raise ConfigError(
                f"unknown attention score '{score}'; choose one of: {', '.join(ATTENTION_SCORES)}"
            )
        self.score = score
        if score == "dot":
            self.key_proj = (
                nn.Linear(key_size, query_size, bias=False) if key_size != query_size else None
            )
        else:
            self.query_proj = nn.Linear(query_size, query_size, bias=False)
            self.key_proj = nn.Linear(key_size, query_size)
            self.v = nn.Linear(query_size, 1, bias=False)

    def forward(
        self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """query (B, T, Hq), keys (B, S, Hk), mask (B, S) true at real tokens ->
        context (B, T, Hk), weights (B, T, S)."""
        if self.score == "dot":
            k = self.key_proj(keys) if self.key_proj is not None else keys
            scores = torch.bmm(query, k.transpose(1, 2))
        else:
            q = self.query_proj(query).unsqueeze(2)  # (B, T, 1, A)
            k = self.key_proj(keys).unsqueeze(1)  # (B, 1, S, A)
            scores = self.v(torch.tanh(q + k)).squeeze(-1)
        scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
        # Half-precision scores (autocast) are normalised in float32; float32 and float64
        # keep their own precision (an unconditional .float() cut float64 models to float32).
        if scores.dtype in (torch.float16, torch.bfloat16):
            scores = scores.float()
        weights = F.softmax(scores, dim=-1).to(keys.dtype)
        return torch.bmm(weights, keys), weights


class Seq2Seq(nn.Module):
    """Token ids in, token logits out. `embedding_dim = 0` feeds one-hot tokens."""

    def __init__(
        self,
        vocab_size: int,
        config: ModelConfig,
        attention_score: str = "dot",
        input_feeding: bool = False,
    ) -> None:
        super().__init__()
        if input_feeding and not config.attention:
            raise ConfigError("input feeding needs attention: set model.attention = true")
        self.input_feeding = input_feeding
        self.vocab_size = vocab_size
        self.cell = config.cell
        self.layers = config.layers
        self.hidden = config.hidden
        self.bidirectional = config.bidirectional
        dim = config.embedding_dim
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=PAD) if dim else None
        in_size = dim or vocab_size
        self.encoder = from_config(config, in_size)
        dec_in = in_size + (config.hidden if input_feeding else 0)
        self.decoder = make_recurrent(
            config.cell, dec_in, config.hidden, config.layers, False, config.dropout, config.impl
        )
        enc_size = config.hidden * (2 if config.bidirectional else 1)
        self.bridge_h: nn.Module | None = None
        self.bridge_c: nn.Module | None = None
        if config.bidirectional:
            self.bridge_h = nn.Linear(enc_size, config.hidden)
            if config.cell == "lstm":
                self.bridge_c = nn.Linear(enc_size, config.hidden)
        self.attention: Attention | None = None
        width = config.hidden
        if config.attention:
            self.attention = Attention(attention_score, config.hidden, enc_size)
            self.combine = nn.Linear(config.hidden + enc_size, config.hidden)
        self.out = nn.Linear(width, vocab_size)

    # -- pieces --------------------------------------------------------------------------
    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.embed is not None:
            return self.embed(tokens)
        # in the model's own dtype (a float64 model got float32 inputs from .float())
        return F.one_hot(tokens, self.vocab_size).to(self.out.weight.dtype)

    def encode(
        self, src: torch.Tensor, src_len: torch.Tensor
    ) -> tuple[torch.Tensor, State, torch.Tensor]:
        """src (B, S) right-padded, src_len (B,) -> encoder outputs (B, S, H * dirs), the
        decoder's initial state and the mask of real source tokens (B, S)."""
        x = self._embed(src)
        steps = src.shape[1]
        mask = torch.arange(steps, device=src.device)[None, :] < src_len[:, None]
        if not bool((src_len < steps).any()):
            out, state = self.encoder(x)
        elif isinstance(self.encoder, nn.RNNBase):
            # Packing makes each sequence's final state the state after its own last token.
            packed = pack_padded_sequence(x, src_len.cpu(), batch_first=True, enforce_sorted=False)
            out, state = self.encoder(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=steps)
        else:
            out, state = self._encode_grouped(x, src_len)
        return out, self._bridge(state), mask

    def _encode_grouped(self, x: torch.Tensor, src_len: torch.Tensor) -> tuple[torch.Tensor, State]:
        """Encoder without packed sequences: each group of equal-length sources runs unpadded,
        so no state update ever reads padding. Padded outputs are zero, as packing leaves them."""
        out: torch.Tensor | None = None
        h: torch.Tensor | None = None
        c: torch.Tensor | None = None
        lengths = src_len.cpu()
        for n in torch.unique(lengths).tolist():
            rows = (lengths == n).nonzero().squeeze(1).to(x.device)
            o, s = self.encoder(x[rows, :n])
            if out is None:  # shapes and dtype are known only after the first group
                # o's dtype, not x's: under bf16 autocast the scratch RNN cells return
                # bfloat16, and index_put below refuses to mix dtypes
                out = o.new_zeros(x.shape[0], x.shape[1], o.shape[-1])
                first = s[0] if isinstance(s, tuple) else s
                h = first.new_zeros(first.shape[0], x.shape[0], first.shape[2])
                c = torch.zeros_like(h) if isinstance(s, tuple) else None
            # index_put (not in-place slicing of a view) keeps autograd happy.
            out = out.index_put((rows,), F.pad(o, (0, 0, 0, x.shape[1] - n)))
            if isinstance(s, tuple):
                h = h.index_copy(1, rows, s[0])
                c = c.index_copy(1, rows, s[1])
            else:
                h = h.index_copy(1, rows, s)
        return out, ((h, c) if c is not None else h)

    def _bridge(self, state: State) -> State:
        if not self.bidirectional:
            return state

        def join(h: torch.Tensor, proj: nn.Module, squash: bool) -> torch.Tensor:
            # (layers * 2, B, H) -> (layers, B, 2H): forward and backward side by side.
            layers2, batch, hidden = h.shape
            both = h.view(layers2 // 2, 2, batch, hidden).permute(0, 2, 1, 3)
            both = proj(both.reshape(layers2 // 2, batch, 2 * hidden))
            return torch.tanh(both) if squash else both

        if self.cell == "lstm":
            h, c = state
            return join(h, self.bridge_h, True), join(c, self.bridge_c, False)
        return join(state, self.bridge_h, True)

    def _readout(
        self, dec_out: torch.Tensor, enc_out: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.attention is None:
            return self.out(dec_out), None
        mixed, weights = self._attend(dec_out, enc_out, mask)
        return self.out(mixed), weights

    def _attend(
        self, dec_out: torch.Tensor, enc_out: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The attentional vector tanh(W [h; context]) (B, T, H) and the weights (B, T, S)."""
        context, weights = self.attention(dec_out, enc_out, mask)
        return torch.tanh(self.combine(torch.cat([dec_out, context], dim=-1))), weights

    def step(
        self,
        tokens: torch.Tensor,
        state: State,
        enc_out: torch.Tensor,
        mask: torch.Tensor,
    ) -> tuple[torch.Tensor, State, torch.Tensor | None]:
        """Decoder steps for tokens (B, T) from `state` -> logits (B, T, V), new state,
        attention weights (B, T, S) or None. With input feeding the state is the pair
        (recurrent state, previous attentional vector); `initial_state` makes it."""
        if not self.input_feeding:
            out, state = self.decoder(self._embed(tokens), state)
            logits, weights = self._readout(out, enc_out, mask)
            return logits, state, weights
        rnn_state, feed = state
        logits_t, weights_t = [], []
        for x in self._embed(tokens).unbind(1):
            out, rnn_state = self.decoder(torch.cat([x, feed], -1).unsqueeze(1), rnn_state)
            feed, w = self._attend(out, enc_out, mask)
            logits_t.append(self.out(feed))
            weights_t.append(w)
            feed = feed.squeeze(1)
        return torch.cat(logits_t, 1), (rnn_state, feed), torch.cat(weights_t, 1)

    def initial_state(self, state: State, batch: int) -> State | tuple[State, torch.Tensor]:
        """The decoder's starting state from the bridged encoder state."""
        if not self.input_feeding:
            return state
        first = state[0] if isinstance(state, tuple) else state
        return state, first.new_zeros(batch, self.hidden)

    # -- training and decoding -----------------------------------------------------------
    def forward(
        self,
        src: torch.Tensor,
        src_len: torch.Tensor,
        tgt_in: torch.Tensor,
        teacher_forcing: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Logits (B, T, V) for decoder inputs tgt_in (B, T) = <sos> y1 .. y_{T-1}.

        With teacher_forcing < 1 each step after the first is fed, with probability
        1 - teacher_forcing (one draw per step for the whole batch), the model's own previous
        prediction instead of the true token."""
        enc_out, state, mask = self.encode(src, src_len)
        state = self.initial_state(state, src.shape[0])
        if teacher_forcing >= 1.0:
            logits, _, _ = self.step(tgt_in, state, enc_out, mask)
            return logits
        draws = torch.rand(tgt_in.shape[1], generator=generator).tolist()
        outputs = []
        token = tgt_in[:, :1]
        for t in range(tgt_in.shape[1]):
            if t > 0:
                own = outputs[-1].argmax(-1)
                token = tgt_in[:, t : t + 1] if draws[t] < teacher_forcing else own
            logits, state, _ = self.step(token, state, enc_out, mask)
            outputs.append(logits)
        return torch.cat(outputs, dim=1)

    @torch.no_grad()
    def greedy(
        self, src: torch.Tensor, src_len: torch.Tensor, max_len: int
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Greedy decoding: token ids (B, <= max_len), stopping once every row has <eos>;
        also the attention weights (B, steps, S) when the model attends."""
        if max_len < 1:
            raise ValueError(f"max_len must be at least 1, got {max_len}")
        enc_out, state, mask = self.encode(src, src_len)
        batch = src.shape[0]
        state = self.initial_state(state, batch)
        token = torch.full((batch, 1), SOS, dtype=torch.long, device=src.device)
        done = torch.zeros(batch, dtype=torch.bool, device=src.device)
        tokens, weights = [], []
        for _ in range(max_len):
            logits, state, w = self.step(token, state, enc_out, mask)
            token = logits.argmax(-1)
            token = token.masked_fill(done[:, None], PAD)  # nothing after <eos>
            tokens.append(token)
            if w is not None:
                weights.append(w)
            done |= token[:, 0] == EOS
            if bool(done.all()):
                break
        attn = torch.cat(weights, dim=1) if weights else None
        return torch.cat(tokens, dim=1), attn
