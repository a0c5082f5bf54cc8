"""Read a user's picture (PNG, JPEG, ...) as an MNIST-style image: grey, HxW, white on black."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rnnlab.errors import DataError


def load_picture(path: str | Path, size: tuple[int, int] = (28, 28)) -> torch.Tensor:
    """uint8 tensor (H, W). Dark-on-light pictures (ink on paper) are inverted, since the
    MNIST family is light-on-dark. Transparent pixels are paper, not the colour they hide."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as im:
            grey = _flatten(im).resize((size[1], size[0]), Image.Resampling.LANCZOS)
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


def _flatten(im):  # PIL.Image.Image -> PIL.Image.Image in mode "L"
    """Grey picture with any transparency laid on paper of the colour opposite to its ink.

    Drawing tools (an HTML canvas, most paint programs) save strokes on a transparent
    background whose hidden colour is usually black: read as grey, black ink would vanish
    into it. Only the alpha channel says where the ink is."""
    from PIL import Image

    has_alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
    if not has_alpha:
        return im.convert("L")
    rgba = im.convert("RGBA")
    alpha = np.asarray(rgba.getchannel("A"), dtype=np.float64)
    if alpha.min() == 255:
        return rgba.convert("L")
    grey = np.asarray(rgba.convert("L"), dtype=np.float64)
    ink = (grey * alpha).sum() / alpha.sum() if alpha.sum() else 0.0
    paper = 255 if ink < 128 else 0
    background = Image.new("RGBA", rgba.size, (paper, paper, paper, 255))
    return Image.alpha_composite(background, rgba).convert("L")
