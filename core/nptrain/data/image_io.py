"""Reading images and masks from files that may be hostile or unusual, without turning them into garbage.

* 8-bit images decode as they are; 16-bit (``I;16*``, 16-bit PNG) are scaled from [0, 65535] and
  float (``F``, float TIFF) from [0, 1], both to the uint8 range the pipeline uses (8-bit precision).
  A float image with values outside [0, 1] and 32-bit integer images are refused, naming the file.
* An alpha channel is dropped (the colour channels are kept); this is said once per process.
* More than :data:`MAX_IMAGE_PIXELS` pixels (a decompression bomb, or just far too big) is refused
  from the header, before anything is decoded.
* :func:`check_image_header` / :func:`check_mask_header` open only the header (size and mode), so a
  whole dataset can be checked before training starts (float images are decoded: their range is
  in the pixels). Pixel data that is corrupt behind a valid header is still found only when decoded.
"""
from __future__ import annotations

import contextlib
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np

from nptrain.errors import UserError

if TYPE_CHECKING:
    from PIL.Image import Image

# Pillow's own decompression-bomb threshold (~89.5 megapixels, e.g. 9459 x 9459): far above any
# training image, far below what would exhaust memory once decoded to float
MAX_IMAGE_PIXELS = 89_478_485

EIGHT_BIT_MODES = ("1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr", "LAB", "HSV")
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
IMAGE_MODES = EIGHT_BIT_MODES + SIXTEEN_BIT_MODES + ALPHA_MODES + ("F", "I")
MASK_MODES = ("1", "L", "P", "I", "RGB", "RGBA", "LA") + SIXTEEN_BIT_MODES

_alpha_said = False


@contextlib.contextmanager
def open_image(path: Path, what: str = "image") -> Iterator["Image"]:
    """``PIL.Image.open`` with every failure as a one-line UserError naming ``path``, and the size
    bounded before any pixel is decoded."""
    # lazy: PIL
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Pillow warns (then errors at 2x) past its bomb threshold; ours is the same, so refuse at once
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
    except FileNotFoundError:
        raise UserError(f"{what} not found: {path}") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise UserError(f"{what} {path} is too large to read: {str(exc).split(',')[0]} "
                        f"(nptrain reads up to {MAX_IMAGE_PIXELS:,} pixels; a decompression bomb?)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UserError(f"cannot read {what} {path}: {type(exc).__name__}: {exc}") from None
    with img:
        width, height = img.size
        if width < 1 or height < 1 or width * height > MAX_IMAGE_PIXELS:
            raise UserError(f"{what} {path} is {width}x{height} pixels; nptrain reads images of 1 to "
                            f"{MAX_IMAGE_PIXELS:,} pixels (a decompression bomb?)")
        try:
            yield img
        except (OSError, SyntaxError, ValueError, EOFError) as exc:  # truncated or corrupt pixel data
            raise UserError(f"cannot read {what} {path}: {type(exc).__name__}: {exc}") from None


def _say_alpha_once(path: Path) -> None:
    global _alpha_said
    if not _alpha_said:
        _alpha_said = True
        print(f"note: {path} has an alpha channel; nptrain drops it and uses the colour channels "
              "(said once: other images with alpha are read the same way)", file=sys.stderr)


def _has_alpha(img) -> bool:
    return img.mode in ALPHA_MODES or (img.mode in ("P", "L", "RGB") and "transparency" in img.info)


def _check_mode(img, path: Path) -> None:
    if img.mode not in IMAGE_MODES:
        raise UserError(f"image {path} has pixel mode {img.mode!r}, which nptrain does not read; "
                        "save it as 8- or 16-bit RGB or greyscale")
    if img.mode == "I" and img.format != "PNG":  # 32-bit integer (TIFF): no known full-scale value
        raise UserError(f"image {path} holds 32-bit integer pixels, which have no fixed [0, 1] scale; "
                        "save it as 8- or 16-bit, or as float in [0, 1]")


def check_image_header(path: Path) -> None:
    """Open ``path``'s header only: readable, of a supported mode, within the size bound."""
    with open_image(path) as img:
        _check_mode(img, path)
        if img.mode == "F":  # the [0, 1] range is in the pixels, not the header: rare enough to decode
            _to_rgb_uint8(img, path)
        elif _has_alpha(img):
            _say_alpha_once(path)


def check_mask_mode(img, path: Path) -> None:
    if img.mode not in MASK_MODES:
        raise UserError(f"mask {path} has pixel mode {img.mode!r}; masks hold integer class ids "
                        "(8- or 16-bit greyscale or palette, or colours with data.pallete)")


def check_mask_header(path: Path) -> tuple[int, int]:
    """Open a segmentation mask's header only; returns its (width, height)."""
    with open_image(path, "mask") as img:
        check_mask_mode(img, path)
        return img.size


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the header of a readable image of a supported mode."""
    with open_image(path) as img:
        _check_mode(img, path)
        return img.size


def _to_rgb_uint8(img, path: Path) -> np.ndarray:
    if img.mode in SIXTEEN_BIT_MODES or img.mode == "I":  # 16-bit greyscale (PNG): full scale 65535
        values = np.asarray(img, dtype=np.float64)
        if values.min() < 0 or values.max() > 65535:
            raise UserError(f"image {path}: integer pixels outside 0..65535; save it as 8- or 16-bit")
        grey = np.rint(values * (255.0 / 65535.0)).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if img.mode == "F":
        values = np.asarray(img, dtype=np.float32)
        lo, hi = float(np.min(values)), float(np.max(values))
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0.0 or hi > 1.0:
            raise UserError(f"image {path}: float pixels in [{lo:.4g}, {hi:.4g}]; nptrain reads float images "
                            "with values in [0, 1] (rescale it, or save it as 8- or 16-bit)")
        grey = np.rint(values * 255.0).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if _has_alpha(img):
        _say_alpha_once(path)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def read_image_array(path: Path) -> np.ndarray:
    """Decode one image as uint8 ``(H, W, 3)`` (see the module docstring for 16-bit, float and alpha)."""
    with open_image(path) as img:
        _check_mode(img, path)
        return _to_rgb_uint8(img, path)
