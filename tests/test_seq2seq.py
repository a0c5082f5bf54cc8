"""Encoder-decoder: generators, padding and masking, decoding paths, attention, training,
exact resume, cell variants, translate and bad input."""

from __future__ import annotations

import pytest
import torch

from rnnlab import api
from rnnlab.cli import main
from rnnlab.config import ModelConfig
from rnnlab.data import synthetic
from rnnlab.errors import CheckpointError, ConfigError
from rnnlab.inference.translation import translate, translate_many
from rnnlab.models.seq2seq import EOS, PAD, SOS, Attention, Seq2Seq
from rnnlab.tasks.seq2seq import Seq2SeqTask, decoder_inputs
from tests.conftest import assert_same_parameters, train_straight_and_resumed

# Reverse 4 digits with a small model: a few seconds of training.
SMALL = {
    "data.length": 4,
    "data.train_size": 3000,
    "data.test_size": 200,
    "model.hidden": 48,
    "model.embedding_dim": 16,
    "train.batch_size": 32,
    "train.iters": 20,
    "train.eval_every": 10,
    "train.eval_batch_size": 100,
}
SMALL_ADD = {
    **SMALL,
    "data.problem": "add",
    "data.digits": 2,
    "data.pad_operands": False,
    "data.reverse_target": False,
}


def small(**extra):
    return {**SMALL, **extra}


def make_task(preset: str = "seq2seq-reverse", overrides: dict | None = None):
    from rnnlab.tasks.seq2seq import Seq2SeqTask

    cfg = api.make_config(preset, overrides or SMALL)
    return Seq2SeqTask(cfg, None, torch.device("cpu"))


# --------------------------------------------------------------------------- generators


@pytest.mark.parametrize("problem", synthetic.PROBLEMS)
def test_generated_targets_are_correct(problem):
    train, test = synthetic.generate(
        problem, length=6, digits=3, train_size=500, test_size=100, seed=1
    )
    assert len(train) == 500 and len(test) == 100
    for s in train + test:
        t = synthetic.target_of(problem, s)
        if problem == "reverse":
            assert len(s) == 6 and t == s[::-1]
        elif problem == "sort":
            assert t == "".join(sorted(s)) and list(t) == sorted(t)
        else:
            a, b = s.split("+")
            assert 1 <= len(a) <= 3 and 1 <= len(b) <= 3
            assert a == str(int(a)) and b == str(int(b))  # no leading zeros
            assert int(t) == int(a) + int(b)
    assert set(synthetic.target_of("add", "999+999")) <= set(synthetic.alphabet("add"))


@pytest.mark.parametrize("problem", synthetic.PROBLEMS)
def test_train_and_test_are_disjoint_and_seeded(problem):
    kw = dict(length=5, digits=3, train_size=3000, test_size=300)
    train, test = synthetic.generate(problem, seed=7, **kw)
    assert not set(train) & set(test)
    assert len(set(train)) == len(train)  # enough distinct examples: no repeats
    assert synthetic.generate(problem, seed=7, **kw) == (train, test)
    other = synthetic.generate(problem, seed=8, **kw)
    assert other[0] != train


def test_tiny_problem_keeps_test_disjoint():
    # 1-digit addition has 100 distinct examples: the test set takes its share, the training
    # set repeats the rest.
    train, test = synthetic.generate(
        "add", length=1, digits=1, train_size=400, test_size=80, seed=0
    )
    assert 0 < len(test) <= 50 and len(train) == 400
    assert not set(train) & set(test)
    assert len(set(train)) == 100 - len(test)


def test_every_operand_width_reaches_training():
    # One-digit sums are few (100); they must not all be drawn into the test set.
    train, test = synthetic.generate(
        "add", length=1, digits=3, train_size=20000, test_size=2000, seed=0
    )
    widths = {tuple(len(x) for x in s.split("+")) for s in train}
    assert len(widths) == 9
    one_digit = [s for s in test if len(s) == 3]
    assert len(one_digit) <= 10


# --------------------------------------------------------------------------- padding, masks


def test_targets_are_padded_and_masked():
    task = make_task(overrides=SMALL_ADD)
    src, lengths, tgt = task.batch(0)
    assert src.shape == (32, 5) and tgt.shape == (32, 4)  # "99+99" and "198" + <eos>
    for row in range(32):
        n = int(lengths[row])
        assert (src[row, n:] == PAD).all() and (src[row, :n] != PAD).all()
        ids = tgt[row].tolist()
        end = ids.index(EOS)
        assert all(i == PAD for i in ids[end + 1 :]) and PAD not in ids[:end]
        text = "".join(task.tokens[i] for i in src[row, :n].tolist())
        assert task.decode(ids) == synthetic.target_of("add", text)
    inputs = decoder_inputs(tgt)
    assert (inputs[:, 0] == SOS).all() and torch.equal(inputs[:, 1:], tgt[:, :-1])

    # The loss ignores padded target positions: changing their logits changes nothing.
    model = task.build_model()
    logits = model(src, lengths, inputs)
    loss = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=PAD
    )
    assert torch.allclose(task.loss(model, (src, lengths, tgt), 0)[0], loss)
    noisy = logits.detach().clone()
    noisy[tgt == PAD] += 5 * torch.randn_like(noisy[tgt == PAD])
    again = torch.nn.functional.cross_entropy(
        noisy.reshape(-1, noisy.shape[-1]), tgt.reshape(-1), ignore_index=PAD
    )
    assert torch.allclose(loss, again)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_source_padding_does_not_change_outputs(bidirectional):
    # A short source padded to a wider batch gives the same logits as the source alone:
    # packing fixes the final state and the mask keeps attention off the padding.
    torch.manual_seed(0)
    cfg = ModelConfig(
        cell="lstm", hidden=16, embedding_dim=8, attention=True, bidirectional=bidirectional
    )
    model = Seq2Seq(14, cfg, "additive").eval()
    short = torch.tensor([[5, 6, 13, 7]])
    wide = torch.tensor([[5, 6, 13, 7, PAD, PAD, PAD], [5, 6, 7, 13, 8, 9, 4]])
    tgt_in = torch.tensor([[SOS, 4, 5], [SOS, 6, 7]])
    alone = model(short, torch.tensor([4]), tgt_in[:1])
    batched = model(wide, torch.tensor([4, 7]), tgt_in)
    assert torch.allclose(alone[0], batched[0], atol=1e-5)


def _padded_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(3)
    lengths = torch.tensor([7, 3, 5, 3, 1, 6])
    src = torch.randint(3, 14, (6, 7))
    src[torch.arange(7)[None, :] >= lengths[:, None]] = PAD
    tgt_in = torch.randint(3, 14, (6, 4))
    tgt_in[:, 0] = SOS
    return src, lengths, tgt_in


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn_tanh"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("input_feeding", [False, True])
def test_scratch_cells_match_torch_on_padded_sources(cell, bidirectional, input_feeding):
    # The hand-written cells have no packed sequences: equal-length groups must give the
    # packed torch path's encoder outputs, final states, logits and greedy decodes exactly.
    kw = dict(cell=cell, hidden=16, embedding_dim=8, attention=True, bidirectional=bidirectional)
    torch.manual_seed(0)
    fused = Seq2Seq(14, ModelConfig(**kw, layers=2), input_feeding=input_feeding).eval()
    scratch = Seq2Seq(14, ModelConfig(**kw, layers=2, impl="scratch"), input_feeding=input_feeding)
    scratch.load_state_dict(fused.state_dict())
    scratch.eval()
    src, lengths, tgt_in = _padded_batch()
    out_f, state_f, mask = fused.encode(src, lengths)
    out_s, state_s, _ = scratch.encode(src, lengths)
    assert torch.allclose(out_f, out_s, atol=1e-5)
    assert (out_s[~mask] == 0).all()  # padded positions stay zero, as after unpacking
    pairs = zip(state_f, state_s) if cell == "lstm" else [(state_f, state_s)]
    for a, b in pairs:
        assert torch.allclose(a, b, atol=1e-5)
    assert torch.allclose(fused(src, lengths, tgt_in), scratch(src, lengths, tgt_in), atol=1e-5)
    assert torch.equal(fused.greedy(src, lengths, 5)[0], scratch.greedy(src, lengths, 5)[0])
    # Not the same as running the scratch encoder over the padding (the old bug).
    unpadded, _ = scratch.encoder(scratch._embed(src))
    assert not torch.allclose(unpadded[1], out_s[1], atol=1e-3)


def test_scratch_encoder_gradients_match_torch():
    kw = dict(cell="lstm", hidden=12, embedding_dim=6, attention=True, bidirectional=True)
    torch.manual_seed(0)
    fused = Seq2Seq(14, ModelConfig(**kw))
    scratch = Seq2Seq(14, ModelConfig(**kw, impl="scratch"))
    scratch.load_state_dict(fused.state_dict())
    src, lengths, tgt_in = _padded_batch()
    for model in (fused, scratch):
        model(src, lengths, tgt_in).square().mean().backward()
    grads_s = dict(scratch.named_parameters())
    for name, p in fused.named_parameters():
        assert torch.allclose(p.grad, grads_s[name].grad, atol=1e-5), name


# --------------------------------------------------------------------------- decoding paths


@pytest.mark.parametrize("attention, feeding", [(False, False), (True, False), (True, True)])
def test_teacher_forcing_and_greedy_agree(attention, feeding):
    torch.manual_seed(1)
    cfg = ModelConfig(cell="gru", hidden=24, embedding_dim=8, attention=attention)
    model = Seq2Seq(13, cfg, input_feeding=feeding).eval()
    src = torch.randint(3, 13, (6, 5))
    lengths = torch.full((6,), 5)
    greedy, _ = model.greedy(src, lengths, max_len=7)
    # Feeding the greedy tokens back as teacher-forcing inputs reproduces them...
    fed = torch.cat([torch.full((6, 1), SOS), greedy[:, :-1]], dim=1)
    fed = fed.masked_fill(fed == PAD, EOS)  # positions after <eos> are not compared
    forced = model(src, lengths, fed).argmax(-1)
    done = torch.cumsum((greedy == EOS).int(), 1) - (greedy == EOS).int() > 0
    assert torch.equal(forced[~done], greedy[~done])
    # ...and teacher_forcing = 0 feeds the model's own predictions at every step.
    targets = torch.randint(3, 13, (6, greedy.shape[1]))
    own = model(src, lengths, decoder_inputs(targets), teacher_forcing=0.0).argmax(-1)
    assert torch.equal(own[~done], greedy[~done])
    # With teacher_forcing = 1 the true tokens are fed: a different path from greedy.
    true = model(src, lengths, decoder_inputs(targets)).argmax(-1)
    assert true.shape == own.shape


def test_partial_teacher_forcing_is_deterministic_by_iteration():
    task = make_task(overrides=small(**{"data.teacher_forcing": 0.5}))
    model = task.build_model()
    batch = task.batch(3)
    a, b = task.loss(model, batch, 3)[0], task.loss(model, batch, 3)[0]
    assert torch.equal(a, b)


# --------------------------------------------------------------------------- attention


@pytest.mark.parametrize("score", ["dot", "additive"])
@pytest.mark.parametrize("key_size", [16, 32])
def test_attention_shapes_and_mask(score, key_size):
    attn = Attention(score, 16, key_size)
    query, keys = torch.randn(3, 5, 16), torch.randn(3, 7, key_size)
    mask = torch.arange(7)[None, :] < torch.tensor([7, 4, 1])[:, None]
    context, weights = attn(query, keys, mask)
    assert context.shape == (3, 5, key_size) and weights.shape == (3, 5, 7)
    assert torch.allclose(weights.sum(-1), torch.ones(3, 5))
    assert (weights[~mask.unsqueeze(1).expand(-1, 5, -1)] == 0).all()
    assert torch.allclose(context[2], keys[2, :1].expand(5, -1))  # one real key: all on it


def test_greedy_returns_attention_weights():
    cfg = ModelConfig(cell="gru", hidden=16, embedding_dim=8, attention=True, bidirectional=True)
    model = Seq2Seq(13, cfg).eval()
    tokens, weights = model.greedy(torch.randint(3, 13, (2, 6)), torch.tensor([6, 3]), 4)
    assert weights.shape == (2, tokens.shape[1], 6)
    assert (weights[1, :, 3:] == 0).all()


# --------------------------------------------------------------------------- training


def test_short_training_beats_chance(tmp_path):
    result = api.train(
        "seq2seq-reverse",
        overrides=small(**{"train.iters": 150, "train.eval_every": 75}),
        runs_dir=tmp_path,
        verbose=False,
    )
    # Chance: 10 % of digits, 0.01 % of whole 4-digit reversals.
    assert result.metrics["token_acc"] > 60
    assert result.metrics["exact"] > 20
    assert result.history[-1]["test_loss"] < result.history[0]["test_loss"]
    assert {"exact", "token_acc", "test_loss"} <= set(result.metrics)


def test_resume_is_exact(tmp_path):
    over = small(
        **{
            "data.teacher_forcing": 0.5,
            "model.layers": 2,
            "model.dropout": 0.2,
            "train.eval_every": 10,
            "train.batch_size": 1000,  # 3 batches an epoch: crosses epoch boundaries
        }
    )
    straight, _, resumed = train_straight_and_resumed(
        "seq2seq-reverse", over, total=20, stop=10, runs_dir=tmp_path
    )
    assert_same_parameters(straight.checkpoint, resumed.checkpoint)
    assert straight.metrics == resumed.metrics


@pytest.mark.parametrize(
    "over",
    [
        {"model.cell": "gru"},
        {"model.cell": "lstm"},
        {"model.cell": "rnn_tanh", "model.attention": False, "data.input_feeding": False},
        {"model.cell": "lstm", "model.bidirectional": True, "model.layers": 2},
        {"model.cell": "gru", "model.bidirectional": True, "data.attention_score": "additive"},
        {"model.embedding_dim": 0},
        {"model.impl": "scratch", "model.cell": "lstm", "model.bidirectional": True},
        {"model.impl": "scratch", "model.cell": "gru"},
        {"model.cell": "lstm", "data.input_feeding": True},
        {"model.impl": "scratch", "model.cell": "gru", "data.input_feeding": True},
    ],
)
def test_variants_run(tmp_path, over):
    result = api.train(
        "seq2seq-add",
        overrides={**SMALL_ADD, "train.iters": 4, "train.eval_every": 4, **over},
        runs_dir=tmp_path,
        verbose=False,
    )
    assert result.status == "completed"
    assert 0 <= result.metrics["exact"] <= 100
    assert torch.isfinite(torch.tensor(result.metrics["test_loss"]))


def test_inspect_preset_without_data():
    info = api.inspect("seq2seq-add")
    names = [p[0] for p in info["parameters"]]
    assert "encoder.weight_ih_l0" in names and "decoder.weight_ih_l0" in names
    assert "combine.weight" in names and dict((p[0], p[1]) for p in info["parameters"])[
        "embed.weight"
    ] == (14, 32)


# --------------------------------------------------------------------------- translate


@pytest.fixture(scope="module")
def add_checkpoint(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    over = {
        **SMALL_ADD,
        "data.pad_operands": True,
        "data.reverse_target": True,
        "train.iters": 10,
    }
    return api.train("seq2seq-add", overrides=over, runs_dir=runs, verbose=False).checkpoint


def test_translate_api_and_cli(add_checkpoint, capsys):
    answer = translate(add_checkpoint, "12+34")
    assert isinstance(answer, str) and set(answer) <= set("0123456789+")
    assert len(translate_many(add_checkpoint, ["1+2", "99+99"])) == 2
    assert main(["translate", str(add_checkpoint), "12+34"]) == 0
    assert capsys.readouterr().out == answer + "\n"
    assert main(["translate", str(add_checkpoint), "12+34", "5+5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"12+34 -> {answer}" and lines[1].startswith("5+5 -> ")


def test_an_input_unlike_training_is_answered_with_a_note(add_checkpoint, capsys):
    from rnnlab.inference.translation import UnlikeTraining

    with pytest.warns(UnlikeTraining, match="'123\\+4' has a 3-digit number; .* at most 2 digits"):
        translate(add_checkpoint, "123+4")
    with pytest.warns(UnlikeTraining, match="not two numbers joined by"):
        translate(add_checkpoint, "12")
    assert main(["translate", str(add_checkpoint), "99+99", "5+123"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2
    assert captured.err == (
        "rnnlab: note: '5+123' has a 3-digit number; this model was trained on numbers of at "
        "most 2 digits, so expect its answer to be wrong\n"
    )


def test_translate_wants_a_string_and_translate_many_a_list(add_checkpoint):
    with pytest.raises(ConfigError, match="translate_many takes a list of inputs"):
        translate_many(add_checkpoint, "1+2")
    with pytest.raises(ConfigError, match="translate takes one string"):
        translate(add_checkpoint, ["1+2"])
    with pytest.raises(ConfigError, match="input 2 is not a string .got 12."):
        translate_many(add_checkpoint, ["1+2", 12])


def test_reverse_notes_a_length_other_than_trained():
    config = api.make_config("seq2seq-reverse", {"data.length": 4})
    task = Seq2SeqTask(config, None, torch.device("cpu"))
    assert task.unlike_training("1234") is None
    assert "trained on exactly 4" in task.unlike_training("123")


def test_translate_reverses_well_after_training(tmp_path):
    over = small(**{"train.iters": 150, "train.eval_every": 150})
    ckpt = api.train("seq2seq-reverse", overrides=over, runs_dir=tmp_path, verbose=False)
    answers = translate_many(ckpt.checkpoint, ["1234", "9070", "5555", "0012"])
    assert sum(a == s[::-1] for a, s in zip(answers, ["1234", "9070", "5555", "0012"])) >= 2


# --------------------------------------------------------------------------- bad input


def test_unknown_problem(capsys):
    assert main(["train", "--preset", "seq2seq-add", "--set", "data.problem=multiply"]) == 1
    assert capsys.readouterr().err.strip() == (
        "rnnlab: error: unknown problem 'multiply'; choose one of: reverse, sort, add"
    )


@pytest.mark.parametrize("field", ["length", "digits"])
def test_length_and_digits_must_be_positive(field):
    with pytest.raises(ConfigError, match=rf"^data\.{field} must be at least 1, got 0$"):
        api.make_config("seq2seq-reverse", {f"data.{field}": 0})


def test_other_bad_settings():
    with pytest.raises(ConfigError, match="data.digits must be at most 18 for problem add"):
        api.make_config("seq2seq-add", {"data.digits": 100000})
    with pytest.raises(ConfigError, match=r"data.teacher_forcing must be in \[0, 1\], got 1.5"):
        api.make_config("seq2seq-reverse", {"data.teacher_forcing": 1.5})
    with pytest.raises(ConfigError, match="unknown attention score .* 'luong'; choose one of"):
        api.make_config("seq2seq-reverse", {"data.attention_score": "luong"})
    with pytest.raises(ConfigError, match=r"^data.input_feeding needs attention: set model"):
        api.make_config("seq2seq-reverse", {"data.input_feeding": True, "model.attention": False})
    with pytest.raises(ConfigError, match="larger than the 100 training examples"):
        api.make_config("seq2seq-reverse", {"data.train_size": 100})


def test_translate_unknown_characters(add_checkpoint, capsys):
    with pytest.raises(ConfigError, match=r"'12a\+4b' has characters outside the vocabulary: "):
        translate(add_checkpoint, "12a+4b")
    assert main(["translate", str(add_checkpoint), "1-2x"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "rnnlab: error: '1-2x' has characters outside the vocabulary: '-', 'x'; "
        "this model knows only '0123456789+'\n"
    )
    with pytest.raises(ConfigError, match="input 1 is empty"):
        translate(add_checkpoint, "")


def test_translate_checkpoint_of_another_task(classify_checkpoint, capsys):
    with pytest.raises(CheckpointError, match="is a 'classify' checkpoint, not 'seq2seq'"):
        translate(classify_checkpoint, "1+2")
    assert main(["translate", str(classify_checkpoint), "1+2"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a 'classify' checkpoint, not 'seq2seq'" in err
    assert err.rstrip().endswith("(this one works with rnnlab predict)")  # what to use instead


# --------------------------------------------------------------------------- full presets


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["seq2seq-reverse", "seq2seq-add"])
def test_full_preset_reaches_99(tmp_path, preset):
    result = api.train(preset, runs_dir=tmp_path, verbose=False)
    assert result.metrics["exact"] >= 99.0, result.metrics


def test_the_unlike_training_warning_points_at_the_callers_line(add_checkpoint):
    from rnnlab.inference.translation import UnlikeTraining

    for call in (lambda: translate(add_checkpoint, "123+4"),
                 lambda: translate_many(add_checkpoint, iter(["123+4"]))):  # fmt: skip
        with pytest.warns(UnlikeTraining) as caught:
            call()
        assert caught[0].filename == __file__  # this test, not rnnlab's own module
