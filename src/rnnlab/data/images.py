"""The MNIST family (MNIST, Fashion-MNIST) in torchvision's folder layout, read as sequences.

Files live in ROOT/<Folder>/raw/, gzip-compressed or not, so an existing torchvision
download works unchanged. The whole data set is decoded once into a uint8 tensor on the
training device; a batch is an index into it, converted to float there (DESIGN.md, "One data
path"): no per-sample Python work in the training loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rnnlab.data.idx import read_idx
from rnnlab.errors import ConfigError, DataError

SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class ImageDataset:
    name: str
    folder: str
    classes: tuple[str, ...]
    mirrors: tuple[str, ...]
    # file stem -> accepted md5s of the decompressed content and of the official .gz
    md5: dict[str, tuple[str, ...]]
    # How the data set framed its pictures, so a user's picture is framed alike: the object's
    # longest side scaled to `object_size` pixels, then centred by its centre of mass
    # (MNIST's digits: 20 px, by mass) or by its bounding box (Fashion-MNIST: the full 28 px).
    object_size: int = 28
    centre_of_mass: bool = False


DATASETS: dict[str, ImageDataset] = {
    "mnist": ImageDataset(
        name="mnist",
        folder="MNIST",
        classes=tuple(str(i) for i in range(10)),
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        md5={
            "train-images-idx3-ubyte": (
                "6bbc9ace898e44ae57da46a324031adb",
                "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            ),
            "train-labels-idx1-ubyte": (
                "a25bea736e30d166cdddb491f175f624",
                "d53e105ee54ea40749a09fcbcd1e9432",
            ),
            "t10k-images-idx3-ubyte": (
                "2646ac647ad5339dbf082846283269ea",
                "9fb629c4189551a2d022fa330f9573f3",
            ),
            "t10k-labels-idx1-ubyte": (
                "27ae3e4e09519cfbb04c329615203637",
                "ec29112dd5afa0611ce80d1b7f02629c",
            ),
        },
        object_size=20,
        centre_of_mass=True,
    ),
    "fashion-mnist": ImageDataset(
        name="fashion-mnist",
        folder="FashionMNIST",
        classes=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        md5={
            "train-images-idx3-ubyte": (
                "f4a8712d7a061bf5bd6d2ca38dc4d50a",
                "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            ),
            "train-labels-idx1-ubyte": (
                "9018921c3c673c538a1fc5bad174d6f9",
                "25c81989df183df01b3e8a0aad5dffbe",
            ),
            "t10k-images-idx3-ubyte": (
                "8181f5470baa50b63fa0f6fddb340f0a",
                "bef4ecab320f06d8554ea6380940ec79",
            ),
            "t10k-labels-idx1-ubyte": (
                "15d484375f8d13e6eb1aabb0c3f46965",
                "bb300cfdad3c16e7a12a480ee83cd310",
            ),
        },
    ),
}

VIEWS = ("rows", "pixels", "permuted")


def get_dataset(name: str) -> ImageDataset:
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset '{name}'; choose one of: {', '.join(DATASETS)}")
    return DATASETS[name]


def raw_folder(root: Path, dataset: ImageDataset) -> Path:
    return Path(root) / dataset.folder / "raw"


def find_file(root: Path, dataset: ImageDataset, stem: str) -> Path | None:
    folder = raw_folder(root, dataset)
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def missing_files(root: Path, dataset: ImageDataset) -> list[str]:
    stems = [s for pair in SPLIT_FILES.values() for s in pair]
    return [s for s in stems if find_file(root, dataset, s) is None]


def load_split(root: Path, dataset: ImageDataset, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) int64 of one split, with consistency checks."""
    missing = missing_files(root, dataset)
    if missing:
        raise DataError(
            f"{dataset.name} data not found in {raw_folder(root, dataset)} (missing "
            f"{', '.join(m + '[.gz]' for m in missing)}); point --data-dir (or $RNNLAB_DATA) "
            f"at the folder that holds {dataset.folder}/raw/, or add --download"
        )
    img_stem, lbl_stem = SPLIT_FILES[split]
    img_path, lbl_path = find_file(root, dataset, img_stem), find_file(root, dataset, lbl_stem)
    images, labels = read_idx(img_path), read_idx(lbl_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(
            f"{img_path} holds {images.shape} {images.dtype}, not N x H x W uint8 images"
        )
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DataError(
            f"{lbl_path} holds {labels.shape} {labels.dtype}, not a vector of integer labels"
        )
    if len(images) == 0:
        raise DataError(f"{img_path} holds no images; download it again (--download)")
    if 0 in images.shape[1:]:
        raise DataError(
            f"{img_path} holds images of {images.shape[1]}x{images.shape[2]} pixels, which "
            "is no picture; download it again (--download)"
        )
    if len(images) != len(labels):
        raise DataError(
            f"{split} split of {dataset.name} has {len(images)} images but {len(labels)} labels "
            f"({img_path.name} vs {lbl_path.name}); download the files again (--download)"
        )
    n_classes = len(dataset.classes)
    lowest, highest = int(labels.min()), int(labels.max())
    if highest >= n_classes or lowest < 0:
        bad = highest if highest >= n_classes else lowest
        raise DataError(
            f"{lbl_path} has label {bad}, outside the {n_classes} classes 0..{n_classes - 1}; "
            "download the files again (--download)"
        )
    return images, labels.astype(np.int64)


def as_sequence(batch: torch.Tensor, view: str, permutation: torch.Tensor | None) -> torch.Tensor:
    """uint8 images (B, H, W) -> float sequences in [0, 1]: rows (B, H, W) or pixels (B, H*W, 1)."""
    x = batch.to(torch.float32).div_(255.0)
    if view == "rows":
        return x
    x = x.reshape(x.shape[0], -1, 1)
    if view == "permuted":
        x = x[:, permutation]
    return x


IMAGE_SIZE = (28, 28)  # every data set of the MNIST family


def sequence_shape(
    view: str, height: int = IMAGE_SIZE[0], width: int = IMAGE_SIZE[1]
) -> tuple[int, int]:
    """(time steps, features per step) of a view."""
    return (height, width) if view == "rows" else (height * width, 1)
