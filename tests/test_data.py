"""IDX parsing, the MNIST-family layout, sequence views and their errors."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from rnnlab.data import images as img
from rnnlab.data.idx import encode_idx, parse_idx, read_idx, write_idx
from rnnlab.data.seeding import LoaderDraws
from rnnlab.errors import DataError
from tests.conftest import make_idx_dataset


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, suffix):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / f"x-idx3-ubyte{suffix}"
    write_idx(path, a)
    b = read_idx(path)
    assert b.shape == (2, 3, 4) and b.dtype == np.uint8
    assert np.array_equal(a, b)
    assert b.flags.writeable


def test_real_mnist_matches_published_facts(data_dir):
    mnist = img.get_dataset("mnist")
    x, y = img.load_split(data_dir, mnist, "train")
    assert x.shape == (60000, 28, 28) and y.shape == (60000,)
    assert y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert np.bincount(y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert abs(x.mean() / 255 - 0.1307) < 1e-3
    tx, ty = img.load_split(data_dir, mnist, "test")
    assert tx.shape == (10000, 28, 28) and ty[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_real_fashion_mnist_loads(data_dir):
    x, y = img.load_split(data_dir, img.get_dataset("fashion-mnist"), "test")
    assert x.shape == (10000, 28, 28) and set(np.unique(y)) == set(range(10))


def test_uncompressed_files_work_too(tmp_path):
    root = make_idx_dataset(tmp_path, gz=False)
    x, y = img.load_split(root, img.get_dataset("mnist"), "train")
    assert x.shape == (120, 28, 28) and y.dtype == np.int64


def test_wrong_magic_is_reported():
    with pytest.raises(DataError, match="wrong magic number"):
        parse_idx(b"\x12\x34\x08\x01" + b"\x00" * 8, "f")


def test_truncated_idx_is_reported():
    data = encode_idx(np.zeros((5, 28, 28), dtype=np.uint8))
    with pytest.raises(DataError, match=r"truncated or corrupt: .* download it again"):
        parse_idx(data[:-10], "train-images")


def test_idx_longer_than_its_header_is_reported():
    data = encode_idx(np.zeros((5, 28, 28), dtype=np.uint8))
    with pytest.raises(
        DataError, match=r"truncated or corrupt: 3952 bytes where its header .* needs 3936"
    ):
        parse_idx(data + b"\x00" * 16, "train-images")


def test_truncated_idx_header_is_reported():
    data = encode_idx(np.zeros((5, 28, 28), dtype=np.uint8))
    with pytest.raises(DataError, match="truncated IDX header; .*--download"):
        parse_idx(data[:9], "train-images")


@pytest.mark.parametrize("content", [b"", b"\x00\x00"])
def test_empty_idx_is_reported_as_truncated(tmp_path, content):
    """An empty file (a download that wrote nothing), plain or gzipped, is not "the wrong
    file": it says to download it again."""
    for name, data in (("t10k-labels-idx1-ubyte", content), ("x.gz", gzip.compress(content))):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(DataError, match=r"empty or truncated .*--download") as err:
            read_idx(path)
        assert "\n" not in str(err.value)


def test_truncated_gzip_is_reported(tmp_path):
    path = tmp_path / "t.gz"
    noise = np.random.default_rng(0).integers(0, 256, (50, 28, 28)).astype(np.uint8)
    path.write_bytes(gzip.compress(encode_idx(noise))[:2000])
    with pytest.raises(DataError, match="truncated or not a valid gzip"):
        read_idx(path)


def test_label_count_mismatch_is_reported(tmp_path):
    root = make_idx_dataset(tmp_path)
    write_idx(root / "MNIST/raw/train-labels-idx1-ubyte.gz", np.zeros(7, np.uint8))
    with pytest.raises(DataError, match="120 images but 7 labels"):
        img.load_split(root, img.get_dataset("mnist"), "train")


def _float_labels(n: int) -> bytes:
    """An IDX file of float32 labels (type code 0x0D), which no classifier can use."""
    return bytes([0, 0, 0x0D, 1]) + struct.pack(">I", n) + np.zeros(n, ">f4").tobytes()


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        ("train-labels-idx1-ubyte.gz", np.full(120, -1, np.int8), "has label -1, outside"),
        ("train-labels-idx1-ubyte.gz", np.full(120, 10, np.uint8), "has label 10, outside"),
        ("train-labels-idx1-ubyte", _float_labels(120), "not a vector of integer labels"),
        ("train-images-idx3-ubyte.gz", np.zeros((0, 28, 28), np.uint8), "holds no images"),
        ("train-images-idx3-ubyte.gz", np.zeros((120, 28, 0), np.uint8), "28x0 pixels"),
    ],
)
def test_bad_labels_and_empty_files_are_reported(tmp_path, file, content, message):
    root = make_idx_dataset(tmp_path)
    raw = root / "MNIST/raw"
    if isinstance(content, bytes):
        (raw / f"{file}.gz").unlink()
        (raw / file).write_bytes(content)
    else:
        write_idx(raw / file, content)
    with pytest.raises(DataError, match=message) as err:
        img.load_split(root, img.get_dataset("mnist"), "train")
    assert "\n" not in str(err.value)


def test_test_images_of_another_size_are_reported(tmp_path):
    from rnnlab import api

    root = make_idx_dataset(tmp_path)
    write_idx(root / "MNIST/raw/t10k-images-idx3-ubyte.gz", np.zeros((40, 32, 32), np.uint8))
    with pytest.raises(DataError, match="training images are 28x28 but test images are 32x32"):
        api.train("seed-c", data_dir=root, runs_dir=tmp_path / "runs", verbose=False)


def test_missing_folder_lists_files_and_fixes(tmp_path):
    with pytest.raises(DataError) as err:
        img.load_split(tmp_path, img.get_dataset("mnist"), "train")
    text = str(err.value)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):  # fmt: skip
        assert name in text
    assert "--data-dir" in text and "--download" in text
    assert "\n" not in text


def test_one_missing_file_is_the_one_listed(tmp_path):
    root = make_idx_dataset(tmp_path)
    (root / "MNIST/raw/t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"missing t10k-labels-idx1-ubyte\[\.gz\]\); ") as err:
        img.load_split(root, img.get_dataset("mnist"), "test")
    assert "train-images" not in str(err.value) and "--download" in str(err.value)


def _replace(raw, name: str, content: bytes) -> None:
    (raw / name).write_bytes(content)


def _flip_a_byte(raw, name: str) -> None:
    data = bytearray((raw / name).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (raw / name).write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda raw: _replace(
                raw, "train-labels-idx1-ubyte.gz", gzip.compress(b"\x12\x34" * 80)
            ),
            "train-labels-idx1-ubyte.gz is not an IDX file (wrong magic number)",
        ),
        (
            lambda raw: _replace(
                raw,
                "train-images-idx3-ubyte.gz",
                gzip.compress(encode_idx(np.zeros((120, 28, 28), np.uint8))[:-50]),
            ),
            "train-images-idx3-ubyte.gz is truncated or corrupt: ",
        ),
        (
            lambda raw: _flip_a_byte(raw, "train-images-idx3-ubyte.gz"),
            "train-images-idx3-ubyte.gz is truncated or not a valid gzip file",
        ),
        (
            lambda raw: write_idx(raw / "t10k-labels-idx1-ubyte.gz", np.zeros(3, np.uint8)),
            "test split of mnist has 40 images but 3 labels",
        ),
    ],
    ids=["wrong-magic", "wrong-size", "corrupt-gzip", "label-count"],
)
def test_damaged_data_stops_train_with_one_line_and_no_run(tmp_path, capsys, damage, message):
    """`rnnlab train` on a damaged data folder: one line naming the file and the fix, and no
    store or run folder left behind."""
    from tests.conftest import one_line_error

    root = make_idx_dataset(tmp_path / "data")
    damage(root / "MNIST" / "raw")
    runs = tmp_path / "runs"
    argv = ["train", "--preset", "seed-c", "--iters", "2", "--batch-size", "10"]
    err = one_line_error(capsys, [*argv, "--data-dir", str(root), "--runs-dir", str(runs)])
    assert message in err
    assert "--download" in err or "right file" in err
    assert not runs.exists()


@pytest.mark.parametrize(
    ("view", "shape"), [("rows", (3, 28, 28)), ("pixels", (3, 784, 1)), ("permuted", (3, 784, 1))]
)
def test_sequence_views(view, shape):
    batch = torch.randint(0, 256, (3, 28, 28), dtype=torch.uint8)
    perm = torch.randperm(784)
    x = img.as_sequence(batch, view, perm)
    assert x.shape == shape and x.dtype == torch.float32
    assert x.min() >= 0.0 and x.max() <= 1.0
    flat = batch.reshape(3, -1).float() / 255
    if view == "pixels":
        assert torch.equal(x[..., 0], flat)
    if view == "permuted":
        assert torch.equal(x[..., 0], flat[:, perm])


def test_loader_draws_give_dataloader_batches():
    """The order of a shuffled DataLoader, with a pass over a test loader every 2 batches,
    under one torch.manual_seed: 250 samples in batches of 100 (a short last batch)."""
    from torch.utils.data import DataLoader

    torch.manual_seed(11)
    loader, test_loader = DataLoader(range(250), batch_size=100, shuffle=True), DataLoader([0])
    expected, it = [], 0
    for _ in range(4):
        for batch in loader:
            expected.append(batch.tolist())
            it += 1
            if it % 2 == 0:
                list(test_loader)

    torch.manual_seed(11)
    draws, ours = LoaderDraws(), []
    for it in range(12):
        epoch, step = divmod(it, 3)
        draws.advance_to(it, per_epoch=3, eval_every=2)
        order = torch.randperm(250, generator=draws.generator(epoch))
        ours.append(order[step * 100 : (step + 1) * 100].tolist())
    assert ours == expected
    assert LoaderDraws(draws.state_dict()).state_dict() == draws.state_dict()


@pytest.mark.parametrize(
    "ink, paper",
    [
        ((0, 0, 0, 255), (0, 0, 0, 0)),  # black strokes on a canvas's transparent black
        ((0, 0, 0, 255), (255, 255, 255, 0)),  # the same over transparent white
        ((255, 255, 255, 255), (0, 0, 0, 0)),  # white chalk on transparency
        ((0, 0, 0, 255), (255, 255, 255, 255)),  # plain ink on paper, no transparency
    ],
)
def test_a_drawn_digit_is_light_on_dark_whatever_its_background(tmp_path, ink, paper):
    from PIL import Image, ImageDraw

    from rnnlab.data.picture import load_picture

    im = Image.new("RGBA", (56, 56), paper)
    ImageDraw.Draw(im).line([(28, 6), (28, 50)], fill=ink, width=8)  # a "1"
    im.save(tmp_path / "one.png")
    x = load_picture(tmp_path / "one.png")
    assert x.shape == (28, 28)
    assert x[14, 14] > 200 and x[14, 2] < 30  # the stroke is bright, the paper dark


def _canvas_with(pixels: np.ndarray, scale: int, at: tuple[int, int], size=(300, 400)):
    """Light-on-dark `pixels` enlarged and drawn as dark ink on white paper at `at`."""
    from PIL import Image

    big = Image.fromarray(pixels).resize(
        (pixels.shape[1] * scale, pixels.shape[0] * scale), Image.Resampling.LANCZOS
    )
    canvas = Image.new("L", (size[1], size[0]), 0)
    canvas.paste(big, (at[1], at[0]))
    return Image.fromarray(255 - np.asarray(canvas))


def test_a_digit_drawn_small_in_a_corner_is_framed_as_mnist_frames_digits(data_dir, tmp_path):
    from rnnlab.data.picture import load_picture

    mnist = img.get_dataset("mnist")
    x, _ = img.load_split(data_dir, mnist, "test")
    likeness = []
    for i in range(20):
        _canvas_with(x[i], 4, (10 + 5 * i, 250)).save(tmp_path / "digit.png")
        framed = load_picture(tmp_path / "digit.png", (28, 28), 20, True).numpy()
        # back where MNIST put it: the same pixels up to resampling (a whole-canvas resize
        # leaves a speck in a corner, uncorrelated with the digit: about 0.05)
        likeness.append(np.corrcoef(framed.ravel(), x[i].ravel())[0, 1])
        rows = np.nonzero(framed.max(1) > 64)[0]
        cols = np.nonzero(framed.max(0) > 64)[0]
        assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 in (19, 20, 21)
        mass = framed.astype(float) / framed.sum()
        r, c = np.indices(framed.shape)
        assert abs((r * mass).sum() - 14) < 1 and abs((c * mass).sum() - 14) < 1
    assert np.median(likeness) > 0.95 and min(likeness) > 0.6


def test_fashion_pictures_fill_the_frame_and_blank_ones_stay_blank(tmp_path):
    from PIL import Image

    from rnnlab.data.picture import load_picture

    shoe = np.zeros((30, 60), dtype=np.uint8)
    shoe[5:25, 10:50] = 200
    _canvas_with(shoe, 2, (100, 20)).save(tmp_path / "shoe.png")
    framed = load_picture(tmp_path / "shoe.png", (28, 28), 28, False).numpy()
    cols = np.nonzero(framed.max(0) > 64)[0]
    rows = np.nonzero(framed.max(1) > 64)[0]
    assert (cols[0], cols[-1]) == (0, 27)  # the longest side spans the frame
    assert abs((rows[0] + rows[-1]) / 2 - 13.5) <= 1  # and the box sits in the middle
    Image.new("L", (90, 60), 255).save(tmp_path / "blank.png")
    assert load_picture(tmp_path / "blank.png", (28, 28), 20, True).max() == 0
