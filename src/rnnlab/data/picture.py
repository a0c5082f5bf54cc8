"""Read a user's picture (PNG, JPEG, ...) as an MNIST-style image: grey, HxW, white on black."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from rnnlab.errors import DataError


def load_picture(
    path: str | Path,
    size: tuple[int, int] = (28, 28),
    object_size: int | None = None,
    centre_of_mass: bool = False,
) -> torch.Tensor:
    """uint8 tensor (H, W), light on dark as the MNIST family is: dark-on-light pictures (ink
    on paper) are inverted, and transparent pixels are paper, not the colour they hide.

    A picture of exactly `size` is taken as it is (e.g. a test image saved as PNG). Any
    other is framed the way the data set framed its own: cropped to its ink, its longest side
    scaled to `object_size` pixels (default: the whole frame) and centred by its bounding box
    or, with `centre_of_mass`, by its centre of mass. A digit drawn small in a corner of a
    large canvas then looks like an MNIST digit, not like a speck."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with warnings.catch_warnings():
            # Pillow only warns between 1x and 2x its limit: refused alike, not a raw warning
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                grey = _flatten(im)
    except FileNotFoundError:
        raise DataError(f"image file {path} does not exist") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a folder; give an image file (PNG or JPEG)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(
            f"{path} is too large to read safely (over {Image.MAX_IMAGE_PIXELS:,} pixels); "
            "shrink it to a small picture first (it is resized to 28x28 anyway)"
        ) from None
    # a damaged file: Pillow raises SyntaxError for a broken PNG chunk, ValueError for some
    # impossible headers
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(
            f"cannot read {path} as an image ({exc}); give a PNG or JPEG file"
        ) from None
    pixels = np.asarray(grey, dtype=np.uint8)
    if _light_paper(pixels):
        pixels = 255 - pixels
    if pixels.shape == tuple(size):
        return torch.from_numpy(pixels.copy())
    return torch.from_numpy(_frame(pixels, size, object_size or max(size), centre_of_mass))


def _light_paper(pixels: np.ndarray) -> bool:
    """Whether a grey picture is dark ink on light paper, judged by its outermost ring of
    pixels: the paper shows there. The mean of the whole picture would not do: a light coat
    or pullover fills most of a Fashion-MNIST frame (565 of its 10,000 test images have a
    mean over 127), but no image of the MNIST family has a border mean over 108."""
    border = np.concatenate([pixels[0], pixels[-1], pixels[1:-1, 0], pixels[1:-1, -1]])
    return bool(border.mean() > 127)


def _frame(
    pixels: np.ndarray, size: tuple[int, int], object_size: int, centre_of_mass: bool
) -> np.ndarray:
    """Crop light-on-dark `pixels` to their ink, scale, and place in a `size` frame."""
    from PIL import Image

    ink = np.argwhere(pixels > 0.25 * pixels.max()) if pixels.max() > 0 else []
    if len(ink) == 0:  # a blank picture: nothing to frame
        blank = Image.fromarray(pixels).resize((size[1], size[0]), Image.Resampling.LANCZOS)
        return np.asarray(blank, dtype=np.uint8).copy()
    (top, left), (bottom, right) = ink.min(0), ink.max(0) + 1
    crop = Image.fromarray(pixels[top:bottom, left:right])
    scale = min(object_size, *size) / max(crop.size)
    w, h = (max(1, round(scale * n)) for n in crop.size)
    small = np.asarray(crop.resize((w, h), Image.Resampling.LANCZOS), dtype=np.float64)
    if centre_of_mass and small.sum() > 0:
        # MNIST's digits have their centre of mass at pixel (14, 14) of the 28x28 frame
        rows, cols = np.indices(small.shape)
        y = size[0] / 2 - (rows * small).sum() / small.sum()
        x = size[1] / 2 - (cols * small).sum() / small.sum()
    else:
        y, x = (size[0] - h) / 2, (size[1] - w) / 2
    # the offset, kept inside the frame
    y = min(max(round(y), 0), size[0] - h)
    x = min(max(round(x), 0), size[1] - w)
    out = np.zeros(size, dtype=np.uint8)
    out[y : y + h, x : x + w] = np.clip(small, 0, 255).round().astype(np.uint8)
    return out


def _flatten(im):  # PIL.Image.Image -> PIL.Image.Image in mode "L"
    """Grey picture with any transparency laid on paper of the colour opposite to its ink.

    Drawing tools (an HTML canvas, most paint programs) save strokes on a transparent
    background whose hidden colour is usually black: read as grey, black ink would vanish
    into it. Only the alpha channel says where the ink is."""
    from PIL import Image

    im = _upright(im)
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        im = _eight_bit(im)
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


def _upright(im):  # PIL.Image.Image -> PIL.Image.Image
    """The picture turned as its EXIF orientation says: a phone stores a photo taken upright
    sideways, with a tag saying so; read as stored, the digit would lie on its side."""
    from PIL import ImageOps

    try:
        return ImageOps.exif_transpose(im) or im
    except Exception:  # damaged EXIF data: the pixels themselves are still good
        return im


def _eight_bit(im):  # PIL.Image.Image -> PIL.Image.Image in mode "L" or "LA"
    """A 16-bit (or 32-bit, float) grey picture in 8 bits, its range scaled down. Pillow's
    own convert("L") clips instead: every value above 255 of 65,535 turns white."""
    from PIL import Image

    values = np.asarray(im, dtype=np.float64)
    # a PNG's 16-bit grey (I;16, or I in older Pillows) spans 0..65535, a float one 0..1 or 0..255
    top = 65535.0 if im.mode != "F" else (1.0 if values.max(initial=0) <= 1 else 255.0)
    grey = Image.fromarray(np.clip(values / top * 255, 0, 255).round().astype(np.uint8))
    key = im.info.get("transparency")  # a 16-bit PNG's transparent grey value
    if not isinstance(key, int | float):
        return grey
    alpha = Image.fromarray(np.where(values == key, 0, 255).astype(np.uint8))
    return Image.merge("LA", (grey, alpha))
