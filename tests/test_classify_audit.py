"""Image classification outside the training loop: evaluate, predict (test images and
pictures) and inspect, as an expert user would exercise them."""

from __future__ import annotations

import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rnnlab import api
from rnnlab.cli import main
from rnnlab.data import images as img
from rnnlab.data.picture import load_picture
from rnnlab.errors import DataError
from tests.conftest import QUICK, make_idx_dataset

# The first five MNIST test labels are 7 2 1 0 4: classes 3, 5, 6, 8 and 9 have no image.
FIVE_TEST_IMAGES = {**QUICK, "data.test_limit": 5, "train.iters": 2, "model.hidden": 8}


@pytest.fixture(scope="module")
def five(data_dir, tmp_path_factory) -> Path:
    """A tiny MNIST run evaluated on its first five test images only."""
    runs = tmp_path_factory.mktemp("runs")
    return api.train("sheet-rnn", overrides=FIVE_TEST_IMAGES, data_dir=data_dir,
                     runs_dir=runs, verbose=False).checkpoint  # fmt: skip


@pytest.fixture(scope="module")
def mnist_test(data_dir) -> tuple[np.ndarray, np.ndarray]:
    return img.load_split(data_dir, img.get_dataset("mnist"), "test")


# -- pictures ------------------------------------------------------------------------------


def test_light_fashion_images_saved_as_png_are_read_as_they_are(data_dir, tmp_path):
    """A light pullover fills most of its frame; it is still light on dark, not ink on
    paper, and must not be inverted (the whole-picture mean said otherwise for 565 of
    Fashion-MNIST's 10,000 test images)."""
    x, _ = img.load_split(data_dir, img.get_dataset("fashion-mnist"), "test")
    bright = [i for i in range(200) if x[i].mean() > 127][:5]
    assert bright
    for i in bright:
        Image.fromarray(x[i]).save(tmp_path / "item.png")
        assert np.array_equal(load_picture(tmp_path / "item.png").numpy(), x[i])
        Image.fromarray(255 - x[i]).save(tmp_path / "ink.png")  # dark on light: inverted
        assert np.array_equal(load_picture(tmp_path / "ink.png").numpy(), x[i])


def test_a_16_bit_png_keeps_its_grey_levels(mnist_test, tmp_path):
    """Pillow's convert("L") clips 16-bit values: every pixel over 255/65535 turned white."""
    digit = mnist_test[0][0]
    Image.fromarray(digit.astype(np.uint16) * 257).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    assert np.array_equal(load_picture(tmp_path / "deep.png").numpy(), digit)


def test_a_16_bit_png_with_a_transparent_grey_is_flattened(tmp_path):
    pixels = np.full((28, 28), 65535, dtype=np.uint16)  # transparent white paper
    pixels[4:24, 12:16] = 0  # a black "1"
    Image.fromarray(pixels).save(tmp_path / "t.png", transparency=65535)
    x = load_picture(tmp_path / "t.png").numpy()
    assert x[14, 14] == 255 and x[14, 2] == 0


def test_a_photo_is_turned_as_its_exif_orientation_says(mnist_test, tmp_path):
    digit = mnist_test[0][0]
    stored = Image.fromarray(digit).transpose(Image.Transpose.ROTATE_90)  # lying on its side
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    stored.save(tmp_path / "photo.png", exif=exif)
    assert np.array_equal(load_picture(tmp_path / "photo.png").numpy(), digit)


def test_a_picture_just_over_pillows_limit_is_refused_not_warned_about(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 40x40 is between 1x and 2x
    Image.new("L", (40, 40)).save(tmp_path / "big.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataError, match="too large to read safely"):
            load_picture(tmp_path / "big.png")


def test_a_png_with_a_broken_chunk_is_one_data_error(mnist_test, tmp_path):
    """Pillow raises SyntaxError for it, which was an 'unexpected SyntaxError'."""
    Image.fromarray(mnist_test[0][0]).save(tmp_path / "ok.png")
    png = (tmp_path / "ok.png").read_bytes()
    at = png.index(b"IDAT") - 4
    n = int.from_bytes(png[at : at + 4], "big")
    pixels, rest = png[at + 8 : at + 8 + n], png[at + 12 + n :]

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data).to_bytes(4, "big")
        return len(data).to_bytes(4, "big") + kind + data + crc

    # the image data split in two, its second part under a type that is no chunk type
    broken = png[:at] + chunk(b"IDAT", pixels[: n // 2]) + chunk(b"\xc7\xd0\xfao", pixels[n // 2 :])
    (tmp_path / "broken.png").write_bytes(broken + rest)
    with pytest.raises(DataError, match="cannot read .*broken.png as an image"):
        load_picture(tmp_path / "broken.png")


# -- predict -------------------------------------------------------------------------------


def test_predict_reads_any_test_image_beyond_the_runs_test_limit(five, data_dir, mnist_test):
    """data.test_limit shortened the run's evaluations; test[9999] is still the data set's."""
    rows = api.predict(five, indices=[9999, 4, 9999], data_dir=data_dir)
    labels = mnist_test[1]
    assert [r["label"] for r in rows] == [str(labels[9999]), str(labels[4]), str(labels[9999])]
    assert rows[0] == rows[2]
    assert all(r["top"][0] == (r["predicted"], r["probability"]) for r in rows)
    (every,) = api.predict(five, indices=[9999], top=10, data_dir=data_dir)
    assert sum(p for _, p in every["top"]) == pytest.approx(1, abs=1e-5)


def test_predict_scores_in_the_run_precision(five, data_dir, tmp_path, monkeypatch):
    """predict's classes are evaluate's: both in the run's precision (bf16 here)."""
    payload = torch.load(five, weights_only=True)
    payload["precision"] = "bf16"
    bf16 = tmp_path / "bf16.pt"
    torch.save(payload, bf16)
    monkeypatch.setattr(api, "cpu_bf16_fast", lambda: True)
    used = []
    real = api.autocast

    def recording(device, precision):
        used.append(precision)
        return real(device, precision)

    monkeypatch.setattr(api, "autocast", recording)
    (row,) = api.predict(bf16, indices=[0], data_dir=data_dir, top=10)
    assert used == ["bf16"]
    assert sum(p for _, p in row["top"]) == pytest.approx(1, abs=1e-5)
    assert api.evaluate(bf16, data_dir=data_dir)["precision"] == "bf16"


def test_a_permuted_view_reads_a_png_as_its_test_image(data_dir, tmp_path, mnist_test):
    over = {**FIVE_TEST_IMAGES, "data.view": "permuted", "data.permutation_seed": 3}
    ckpt = api.train("sheet-rnn", overrides=over, data_dir=data_dir, runs_dir=tmp_path,
                     verbose=False).checkpoint  # fmt: skip
    Image.fromarray(mnist_test[0][3]).save(tmp_path / "zero.png")
    (by_index,) = api.predict(ckpt, indices=[3], data_dir=data_dir, top=10)
    (picture,) = api.predict(ckpt, images=[tmp_path / "zero.png"], top=10,
                             data_dir=tmp_path / "no-data")  # fmt: skip
    assert [c for c, _ in picture["top"]] == [c for c, _ in by_index["top"]]
    assert [p for _, p in picture["top"]] == pytest.approx([p for _, p in by_index["top"]])


# -- evaluate ------------------------------------------------------------------------------


def test_a_class_without_test_images_has_no_accuracy_not_zero(five, data_dir, capsys):
    ev = api.evaluate(five, data_dir=data_dir)
    matrix = np.array(ev["confusion"])
    assert matrix.sum() == 5 and matrix.sum(1)[[3, 5, 6, 8, 9]].tolist() == [0] * 5
    assert [ev["per_class_acc"][k] for k in (3, 5, 6, 8, 9)] == [None] * 5
    for k in (0, 1, 2, 4, 7):
        assert ev["per_class_acc"][k] == 100.0 * matrix[k, k]
    assert ev["test_acc"] == pytest.approx(100 * np.trace(matrix) / 5, abs=1e-4)
    assert main(["evaluate", str(five), "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "scored in fp32" in out.splitlines()[0]
    assert "  3            no test images" in out


# -- inspect -------------------------------------------------------------------------------


def test_inspect_names_the_view_and_data_set_that_shape_the_input(capsys, five):
    assert main(["inspect", "sheet-rnn", "--view", "pixels", "--dataset", "fashion-mnist"]) == 0
    out = capsys.readouterr().out
    assert "task classify (fashion-mnist, pixels view): rnn_tanh, hidden 128" in out
    assert "128x1" in out
    assert main(["inspect", str(five)]) == 0
    out = capsys.readouterr().out
    assert "task classify (mnist, rows view): rnn_tanh, hidden 8, layers 2" in out
    info = api.inspect(five)
    assert info["total"] == api.inspect("sheet-rnn", overrides={"model.hidden": 8})["total"]


def test_accuracies_are_counted_exactly_not_as_a_float32_mean(tmp_path):
    # 30 test images: an accuracy is 100 * k / 30 exactly (a float32 mean of 4 right in 30
    # would record 13.33333432674408, not 13.333333333333334)
    data = make_idx_dataset(tmp_path / "data", n_test=30)
    result = api.train(
        "sheet-rnn",
        overrides={"train.iters": 6, "train.eval_every": 3, "train.batch_size": 20},
        data_dir=data,
        runs_dir=tmp_path / "runs",
        verbose=False,
    )
    values = [row["test_acc"] for row in result.history]
    assert values and all(v == 100 * round(v * 30 / 100) / 30 for v in values), values
