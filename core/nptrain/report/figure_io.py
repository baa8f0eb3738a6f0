"""Shared by every picture: a headless pyplot, atomic PNG writes, and reading a PNG back for TensorBoard."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

DPI = 100


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (servers and CI have no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path) -> None:
    """Write ``fig`` as PNG through a temp file and a rename, then close it: a reader never sees
    half a picture and a crash keeps the previous one."""
    plt = pyplot()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.png")
    try:
        fig.savefig(tmp, dpi=DPI, bbox_inches="tight", pad_inches=0.1)  # long labels never cut off
        tmp.replace(path)
    finally:
        plt.close(fig)
        if tmp.exists():
            tmp.unlink()


def read_png(path: Path) -> Any:
    """``(H, W, 3)`` uint8 array of a written picture (what TensorBoard's ``add_image`` gets)."""
    # lazy: PIL, numpy
    import numpy as np
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))
