"""Read a user's picture (PNG, JPEG, ...) as an MNIST-style image: grey, HxW, white on black."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rnnlab.errors import DataError


def load_picture(path: str | Path, size: tuple[int, int] = (28, 28)) -> torch.Tensor:
    """uint8 tensor (H, W). Dark-on-light pictures (ink on paper) are inverted, since the
    MNIST family is light-on-dark."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as im:
            grey = im.convert("L").resize((size[1], size[0]), Image.Resampling.LANCZOS)
            pixels = np.asarray(grey, dtype=np.uint8).copy()
    except FileNotFoundError:
        raise DataError(f"image file {path} does not exist") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a folder; give an image file (PNG or JPEG)") from None
    except Image.DecompressionBombError:
        raise DataError(
            f"{path} is too large to read safely (over {Image.MAX_IMAGE_PIXELS:,} pixels); "
            "shrink it to a small picture first (it is resized to 28x28 anyway)"
        ) from None
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(
            f"cannot read {path} as an image ({exc}); give a PNG or JPEG file"
        ) from None
    if pixels.mean() > 127:
        pixels = 255 - pixels
    return torch.from_numpy(pixels)
