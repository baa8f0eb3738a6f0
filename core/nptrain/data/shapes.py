"""``nptrain data shapes DIR``: a deterministic synthetic segmentation dataset for fast tests.

Each 64×64 image has one to three filled shapes (disc, square, triangle) of random vivid colour
and size on a grey textured background (waves plus pixel noise): finding objects is easy, naming
them needs the outline, because the colour says nothing about the class. Masks are palette PNGs whose indices are the class ids. Everything comes from a
seeded numpy generator: every machine writes the same files.
"""
from __future__ import annotations

from pathlib import Path
import colorsys

import numpy as np

SHAPE_CLASSES = ["background", "disc", "square", "triangle"]
# colours of the mask PNGs' palette (also a sensible data.pallete for RGB-mask experiments)
SHAPE_PALETTE = [(0, 0, 0), (220, 60, 60), (60, 180, 75), (70, 110, 230)]


def _background(rng: np.random.Generator, size: int, width: int | None = None) -> np.ndarray:
    """Low-saturation texture: grey waves in random directions plus pixel noise (``size`` high,
    ``width`` wide, square by default)."""
    width = size if width is None else width
    yy, xx = np.mgrid[0:size, 0:width].astype(np.float32) / size
    grey = np.full((size, width), rng.uniform(0.3, 0.7), np.float32)
    for _ in range(2):
        fy, fx = rng.uniform(-4.0, 4.0, 2)
        grey += 0.12 * np.sin(2 * np.pi * (fy * yy + fx * xx) + rng.uniform(0, 2 * np.pi))
    tint = rng.uniform(-0.05, 0.05, 3).astype(np.float32)
    return grey[..., None] + tint + rng.normal(0, 0.06, (size, width, 3)).astype(np.float32)


def _vivid_color(rng: np.random.Generator) -> np.ndarray:
    """A saturated colour of random hue (HSV with s, v high), so objects stand out from the grey
    background by colour while the class is only given by the outline."""
    return np.array(colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.0)),
                    np.float32)


def _shape_mask(kind: int, rng: np.random.Generator, size: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    r = rng.uniform(size * 0.12, size * 0.24)
    cy, cx = rng.uniform(r * 0.6, size - r * 0.6, 2)
    if kind == 1:  # disc
        return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    if kind == 2:  # axis-aligned square
        return (np.abs(yy - cy) <= r * 0.85) & (np.abs(xx - cx) <= r * 0.85)
    # upright triangle: apex at the top, base at the bottom
    top, bottom = cy - r, cy + r * 0.8
    half = (yy - top) / (bottom - top) * r
    return (yy >= top) & (yy <= bottom) & (np.abs(xx - cx) <= half)


def make_shape_sample(rng: np.random.Generator, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """One ``(uint8 RGB image (H, W, 3), uint8 mask (H, W))`` pair."""
    img = _background(rng, size)
    mask = np.zeros((size, size), np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        kind = int(rng.integers(1, len(SHAPE_CLASSES)))
        region = _shape_mask(kind, rng, size)
        img[region] = _vivid_color(rng) + rng.normal(0, 0.02, (int(region.sum()), 3))
        mask[region] = kind
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8), mask


def write_shapes(out: str | Path, n_train: int = 192, n_valid: int = 48, size: int = 64,
                 seed: int = 0) -> dict[str, int]:
    """``out/{train,valid}/{images,masks}/NNNN.png``; returns the counts per split."""
    # lazy: PIL
    from PIL import Image

    out = Path(out)
    rng = np.random.default_rng(seed)
    flat_palette = [v for color in SHAPE_PALETTE for v in color]
    counts = {}
    for split, n in (("train", n_train), ("valid", n_valid)):
        (out / split / "images").mkdir(parents=True, exist_ok=True)
        (out / split / "masks").mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img, mask = make_shape_sample(rng, size)
            Image.fromarray(img).save(out / split / "images" / f"{i:04d}.png")
            m = Image.frombytes("P", (size, size), mask.tobytes())  # indices stay the class ids
            m.putpalette(flat_palette)
            m.save(out / split / "masks" / f"{i:04d}.png")
        counts[split] = n
    return counts
