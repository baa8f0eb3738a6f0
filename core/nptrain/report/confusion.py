"""``confusion_matrix.png``: rows = true class, columns = predicted class, each row normalised to
sum to 1 (so a rare class reads as clearly as a common one), the raw count of each true class on
its row label. Classification counts images, segmentation pixels.

Readable from 2 to 100+ classes: the figure grows with the class count up to a cap, cell values
are written while they fit (up to ``MAX_ANNOTATED`` classes), and tick labels shrink and thin out
beyond that.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from nptrain.report.figure_io import pyplot, save_figure

MAX_ANNOTATED = 25  # beyond this, cell numbers no longer fit: the colour carries the value
MAX_LABELLED = 60  # beyond this, every n-th tick label only
MAX_LABEL_CHARS = 18


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its sum; a row without samples stays 0 (not NaN)."""
    totals = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros(matrix.shape, dtype=np.float64), where=totals > 0)


def compact_count(n: float) -> str:
    """1234 → ``1234``, 166956 → ``167k``, 2.5e6 → ``2.5M`` (pixel counts make long labels)."""
    if n < 10_000:
        return str(int(n))
    if n < 1_000_000:
        return f"{n / 1000:.0f}k"
    return f"{n / 1e6:.1f}M"


def _short(name: str) -> str:
    # keep both ends: names often differ only in a suffix (class_1_a, class_1_b) or a prefix
    if len(name) <= MAX_LABEL_CHARS:
        return name
    head = (MAX_LABEL_CHARS - 1) // 2
    return name[:head] + "…" + name[-(MAX_LABEL_CHARS - 1 - head):]


def plot_confusion(path: Path, matrix: np.ndarray, classes: Sequence[str], *, unit: str = "images",
                   title: str = "confusion matrix") -> None:
    """Write the row-normalised ``matrix`` (``(C, C)`` counts) as ``path``."""
    plt = pyplot()
    counts = np.asarray(matrix, dtype=np.float64)
    n = counts.shape[0]
    norm = normalise_rows(counts)
    side = float(np.clip(2.5 + 0.45 * n, 5.0, 16.0))
    fig, ax = plt.subplots(figsize=(side + 2.0, side), layout="constrained")
    im = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    font = float(np.clip(12 - 0.1 * n, 6, 10))
    step = 1 if n <= MAX_LABELLED else int(np.ceil(n / MAX_LABELLED))
    ticks = list(range(0, n, step))
    row_totals = counts.sum(axis=1)
    ax.set_xticks(ticks, [_short(classes[i]) for i in ticks], rotation=45 if n > 4 else 0, ha="right" if n > 4 else "center",
                  fontsize=font)
    ax.set_yticks(ticks, [f"{_short(classes[i])} ({compact_count(row_totals[i])})" for i in ticks], fontsize=font)
    ax.set_xlabel("predicted")
    ax.set_ylabel(f"true ({unit})")
    accuracy = np.trace(counts) / max(counts.sum(), 1.0)
    ax.set_title(f"{title} (normalised per true class; accuracy {accuracy:.3f})", fontsize=10)
    if n <= MAX_ANNOTATED:
        for i in range(n):
            for j in range(n):
                value = norm[i, j]
                if value >= 0.005 or i == j:
                    ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=font,
                            color="white" if value > 0.6 else "black")
    save_figure(fig, path)
