"""The package's top level and the forgiving edges of its functions."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import rnnlab
from rnnlab import api
from rnnlab.commands.checkpoints import matrix_text
from rnnlab.errors import ConfigError, DataError
from tests.conftest import QUICK


@pytest.fixture(scope="module")
def checkpoint(data_dir, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    return api.train("seed-c", overrides=QUICK, data_dir=data_dir, runs_dir=runs,
                     verbose=False).checkpoint  # fmt: skip


def test_errors_are_on_the_package():
    assert issubclass(rnnlab.ConfigError, rnnlab.RnnlabError)
    assert {"RnnlabError", "DataError", "CheckpointError", "RunResult"} <= set(rnnlab.__all__)
    with pytest.raises(rnnlab.RnnlabError, match="unknown preset"):
        rnnlab.train("no-such-preset")


def test_predict_takes_one_image_or_index_as_well_as_lists(checkpoint, data_dir, tmp_path):
    png = tmp_path / "digit.png"
    Image.fromarray(np.zeros((28, 28), dtype=np.uint8)).save(png)
    (one,) = api.predict(checkpoint, images=str(png), data_dir=data_dir)
    assert one["source"] == str(png)
    (two,) = api.predict(checkpoint, indices=3, data_dir=data_dir)
    assert two["source"] == "test[3]"


def test_a_picture_needs_no_data_set(checkpoint, data_dir, tmp_path):
    png = tmp_path / "digit.png"
    pixels = np.zeros((28, 28), dtype=np.uint8)
    pixels[5:23, 12:16] = 255
    Image.fromarray(pixels).save(png)
    (with_data,) = api.predict(checkpoint, images=[png], data_dir=data_dir)
    (without,) = api.predict(checkpoint, images=[png], data_dir=tmp_path / "nothing-here")
    assert [c for c, _ in without["top"]] == [c for c, _ in with_data["top"]]
    assert [p for _, p in without["top"]] == pytest.approx([p for _, p in with_data["top"]])
    with pytest.raises(DataError, match="data not found"):  # test images by index do need it
        api.predict(checkpoint, indices=[0], data_dir=tmp_path / "nothing-here")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"indices": [1.5]}, "test index 1.5 is not a whole number"),
        ({"indices": ["0"]}, "test index '0' is not a whole number"),
        ({"indices": [0], "top": "3"}, "--top must be a positive integer"),
        ({"indices": 2.5}, "indices must be a list"),
    ],
)
def test_predict_bad_arguments(checkpoint, data_dir, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        api.predict(checkpoint, data_dir=data_dir, **kwargs)


def test_predict_a_folder_or_a_huge_picture(checkpoint, data_dir, tmp_path, monkeypatch):
    with pytest.raises(DataError, match="is a folder; give an image file"):
        api.predict(checkpoint, images=[tmp_path], data_dir=data_dir)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    big = tmp_path / "big.png"
    Image.fromarray(np.zeros((40, 40), dtype=np.uint8)).save(big)
    with pytest.raises(DataError, match="too large to read safely"):
        api.predict(checkpoint, images=[big], data_dir=data_dir)


def test_confusion_matrix_columns_never_run_together():
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"]
    header, *rows = matrix_text([[1000, 2, 3, 4, 5]] * 5, classes).splitlines()
    assert header.split() == ["T-shirt", "Trouser", "Pullove", "Dress", "Coat"]
    assert all(row.split()[1:] == ["1000", "2", "3", "4", "5"] for row in rows)


def test_dropout_with_one_layer_is_noted(data_dir, tmp_path, capsys):
    over = {**QUICK, "model.dropout": 0.3, "model.layers": 1}
    api.train("seed-c", overrides=over, data_dir=data_dir, runs_dir=tmp_path)
    assert "Note: model.dropout=0.3 does nothing with 1 layer" in capsys.readouterr().out
    over["model.layers"] = 2
    api.train("seed-c", overrides=over, data_dir=data_dir, runs_dir=tmp_path)
    assert "does nothing" not in capsys.readouterr().out
