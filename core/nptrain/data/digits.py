"""``nptrain data digits DIR``: scikit-learn's bundled digits as PNGs, one folder per class.

The 1797 8×8 images are split 80/20, stratified, with a fixed seed, so every machine writes the
same ``train/`` and ``valid/`` folders.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def write_digits(out: str | Path, valid_fraction: float = 0.2, seed: int = 0) -> dict[str, int]:
    # lazy: PIL
    from PIL import Image
    from sklearn.datasets import load_digits

    out = Path(out)
    digits = load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    labels = digits.target
    rng = np.random.default_rng(seed)
    is_valid = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):  # stratified: the same fraction of each class goes to valid
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        is_valid[idx[: int(round(len(idx) * valid_fraction))]] = True
    counts = {"train": 0, "valid": 0}
    for i, (img, label) in enumerate(zip(images, labels)):
        split = "valid" if is_valid[i] else "train"
        folder = out / split / str(int(label))
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"{i:04d}.png")
        counts[split] += 1
    return counts
