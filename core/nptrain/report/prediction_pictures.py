"""Pictures ``nptrain predict`` writes: a labelled grid of classified images, and segmentation
overlays that carry a legend in the dataset's palette."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from nptrain.report.figure_io import pyplot, save_figure

MAX_GRID = 64  # images shown in predictions.png (every image is in predictions.csv)
GRID_COLUMNS = 8
MIN_DISPLAY_SIDE = 256  # drawn pictures smaller than this are enlarged (nearest) before drawing on them


def plot_prediction_grid(path: Path, images: Sequence[np.ndarray], titles: Sequence[str],
                         captions: Sequence[str]) -> None:
    """``images`` (``(H, W, 3)`` uint8) in a grid, each with its file name and predicted class."""
    plt = pyplot()
    n = min(len(images), MAX_GRID)
    cols = max(1, min(GRID_COLUMNS, n))
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.5 * rows), squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title, caption in zip(axes.flat, images[:n], titles[:n], captions[:n]):
        ax.imshow(image, interpolation="nearest" if max(image.shape[:2]) < 64 else "antialiased")
        ax.set_title(f"{_fit(title, 24)}\n{_fit(caption, 24)}", fontsize=8)
    if len(images) > n:
        fig.suptitle(f"first {n} of {len(images)} images (all of them are in predictions.csv)", fontsize=10)
    save_figure(fig, path)


def display_scale(size: tuple[int, int], min_side: int = MIN_DISPLAY_SIDE) -> int:
    """Whole-number factor that brings the short side of ``size`` to at least ``min_side`` (1 for
    pictures already that large): captions and legends on a 64 px picture would cover it."""
    short = max(1, min(size))
    return max(1, -(-min_side // short))


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def font(size: int):
    """A scalable font of ``size`` px (Pillow's bundled one); the fixed bitmap font on old Pillow."""
    # lazy: PIL
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=max(size, 6))
    except TypeError:  # Pillow < 10.1 has only the bitmap font
        return ImageFont.load_default()


def add_legend(picture, entries: Sequence[tuple[str, tuple[int, int, int]]]):
    """``picture`` (PIL RGB) with a strip below it: one colour swatch and class name per entry,
    wrapped to the picture's width; text size follows the picture so it reads at any resolution."""
    # lazy: PIL
    from PIL import Image, ImageDraw

    w, h = picture.size
    size = int(np.clip(min(w, h) / 18, 9, 28))
    fnt = font(size)
    measure = ImageDraw.Draw(picture)
    pad, swatch = max(2, size // 3), size
    cells = []
    for name, _ in entries:
        left, _, right, _ = measure.textbbox((0, 0), name, font=fnt)
        cells.append(swatch + pad + (right - left) + 2 * pad)
    # lay the entries out in lines no wider than the picture (at least one entry per line)
    lines: list[list[int]] = [[]]
    used = pad
    for i, width in enumerate(cells):
        if lines[-1] and used + width > max(w, 1):
            lines.append([])
            used = pad
        lines[-1].append(i)
        used += width
    line_h = size + 2 * pad
    widest = max(pad + sum(cells[i] for i in line) for line in lines)
    out = Image.new("RGB", (max(w, widest), h + line_h * len(lines)), (255, 255, 255))
    out.paste(picture, (0, 0))
    draw = ImageDraw.Draw(out)
    for row, line in enumerate(lines):
        x, y = pad, h + row * line_h + pad
        for i in line:
            name, color = entries[i]
            draw.rectangle([x, y, x + swatch - 1, y + swatch - 1], fill=color, outline=(0, 0, 0))
            _, top, _, bottom = draw.textbbox((0, 0), name, font=fnt)
            draw.text((x + swatch + pad, y + (swatch - (bottom - top)) / 2 - top), name, fill=(0, 0, 0), font=fnt)
            x += cells[i]
    return out
