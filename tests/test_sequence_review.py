"""Regression tests from a review of the sequence tasks (text, tagging, seq2seq) and inference."""

from __future__ import annotations

import torch

from rnnlab import api
from rnnlab.config import MAX_INT
from rnnlab.data import tagging as tg
from rnnlab.data.seeding import seeded_generator
from rnnlab.data.text import StreamLayout
from rnnlab.tasks.seq2seq import Seq2SeqTask
from tests.test_tagger import SMALL as SMALL_CONLLU


def test_conllu_file_with_a_byte_order_mark_reads_like_one_without(tmp_path):
    # Editors on Windows save UTF-8 with a BOM; it is not part of the first comment or token
    # (the charlm reader and `rnnlab tag --file` drop it too).
    plain, bom = tmp_path / "plain.conllu", tmp_path / "bom.conllu"
    plain.write_text(SMALL_CONLLU, encoding="utf-8")
    bom.write_text("\ufeff" + SMALL_CONLLU, encoding="utf-8")
    assert tg.read_conllu(bom) == tg.read_conllu(plain)
    # ... also when the file starts with a token line rather than a comment
    no_comments = "\n".join(line for line in SMALL_CONLLU.split("\n") if not line.startswith("#"))
    bom.write_text("\ufeff" + no_comments, encoding="utf-8")
    plain.write_text(no_comments, encoding="utf-8")
    assert tg.read_conllu(bom) == tg.read_conllu(plain)


def test_every_allowed_seed_forms_batches():
    # check_seed accepts 0 .. 2**63-1; the seeded batch order, the pass offsets of the TBPTT
    # layout, word dropout and teacher forcing must work for all of them, not overflow.
    for seed in (2**45, MAX_INT):
        for salt in (0, 17, 7919 * 10**6 + 1):
            seeded_generator(seed, salt)
        layout = StreamLayout(torch.arange(1000), streams=4, seq_len=10, seed=seed)
        x, y = layout.batch(layout.chunks)  # the second pass starts at a seeded offset
        assert torch.equal(y, x + 1)
    # small seeds keep their generators, so existing runs resume unchanged
    expected = torch.Generator().manual_seed(3 * 1_000_003 + 5).initial_seed()
    assert seeded_generator(3, 5).initial_seed() == expected

    cfg = api.make_config(
        "seq2seq-reverse",
        {"data.length": 4, "data.train_size": 300, "data.test_size": 50, "seed": MAX_INT},
    )
    task = Seq2SeqTask(cfg, None, torch.device("cpu"))
    src, lengths, tgt = task.batch(0)
    assert src.shape[0] == cfg.train.batch_size
