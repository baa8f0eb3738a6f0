"""``nptrain data nuclei DIR``: a small real segmentation dataset from files a PyPI package ships.

The ``stardist`` wheel bundles one 512×512 fluorescence microscopy image of cell nuclei and its
hand-made instance mask from the 2018 Data Science Bowl (Caicedo et al., Nature Methods 16, 2019;
``stardist/data/images/img2d.tif`` and ``mask2d.tif``). We read those two files directly (the
package is never imported, so its TensorFlow stack is not needed: ``pip install --no-deps stardist``
is enough), turn instances into background/nucleus, and cut tiles: overlapping tiles from the left
three quarters for train, disjoint tiles from the right quarter for valid, so the splits share no pixel.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from nptrain.errors import UserError

NUCLEI_CLASSES = ["background", "nucleus"]
NUCLEI_PALETTE = [(0, 0, 0), (255, 200, 0)]
_FILES = ("stardist/data/images/img2d.tif", "stardist/data/images/mask2d.tif")


def nuclei_source() -> tuple[Path, Path]:
    """Paths of the image and mask inside the installed stardist distribution (no import)."""
    from importlib import metadata

    try:
        dist = metadata.distribution("stardist")
    except metadata.PackageNotFoundError:
        raise UserError("nptrain data nuclei reads the image bundled with the stardist package, which is not "
                        "installed: pip install --no-deps stardist (only its data files are used)") from None
    paths = tuple(Path(str(dist.locate_file(f))) for f in _FILES)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise UserError(f"the installed stardist has no {', '.join(missing)}; reinstall it (version 0.9.x ships them)")
    return paths[0], paths[1]


def write_nuclei(out: str | Path, tile: int = 64, train_stride: int = 32) -> dict[str, int]:
    """``out/{train,valid}/{images,masks}/*.png`` tiles; returns the counts per split."""
    from PIL import Image

    img_path, mask_path = nuclei_source()
    with Image.open(img_path) as im:
        image = np.asarray(im).astype(np.float64)
    with Image.open(mask_path) as im:
        instances = np.asarray(im)
    # stretch the 16-bit intensities to 8 bit with robust limits (the raw values span about 0-235)
    lo, hi = np.percentile(image, [0.5, 99.8])
    gray = np.clip((image - lo) / max(hi - lo, 1e-6) * 255, 0, 255).round().astype(np.uint8)
    mask = (instances > 0).astype(np.uint8)
    h, w = gray.shape
    split_x = (w * 3 // 4) // tile * tile
    flat_palette = [v for color in NUCLEI_PALETTE for v in color]
    out = Path(out)
    counts = {"train": 0, "valid": 0}

    def save(split: str, y: int, x: int) -> None:
        folder = out / split
        (folder / "images").mkdir(parents=True, exist_ok=True)
        (folder / "masks").mkdir(parents=True, exist_ok=True)
        name = f"y{y:03d}_x{x:03d}.png"
        Image.fromarray(np.repeat(gray[y:y + tile, x:x + tile, None], 3, axis=2)).save(folder / "images" / name)
        m = Image.frombytes("P", (tile, tile), np.ascontiguousarray(mask[y:y + tile, x:x + tile]).tobytes())
        m.putpalette(flat_palette)
        m.save(folder / "masks" / name)
        counts[split] += 1

    for y in range(0, h - tile + 1, train_stride):
        for x in range(0, split_x - tile + 1, train_stride):
            save("train", y, x)
    for y in range(0, h - tile + 1, tile):
        for x in range(split_x, w - tile + 1, tile):
            save("valid", y, x)
    return counts
