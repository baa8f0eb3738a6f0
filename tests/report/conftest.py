"""Helpers for picture tests: a written PNG must exist, have the expected size and not be blank."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def check_png(path: Path, min_size: tuple[int, int], max_size: tuple[int, int], min_std: float = 20.0) -> np.ndarray:
    """The picture as an array, after checking it is a PNG of a plausible size whose pixels vary
    (a blank or single-colour picture has a standard deviation near 0)."""
    assert path.is_file(), path
    with Image.open(path) as img:
        assert img.format == "PNG"
        w, h = img.size
        pixels = np.asarray(img.convert("RGB"), dtype=np.float64)
    assert min_size[0] <= w <= max_size[0] and min_size[1] <= h <= max_size[1], (path.name, w, h)
    assert pixels.std() > min_std, (path.name, pixels.std())
    assert not list(path.parent.glob(f".{path.name}*")), "a temporary file was left behind"
    return pixels


@pytest.fixture
def png_check():
    return check_png
