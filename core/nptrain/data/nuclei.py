"""``nptrain data nuclei DIR``: a small real segmentation dataset from files a PyPI package ships.

The ``stardist`` wheel bundles one 512×512 fluorescence microscopy image of cell nuclei and its
hand-made instance mask from the 2018 Data Science Bowl (Caicedo et al., Nature Methods 16, 2019;
``stardist/data/images/img2d.tif`` and ``mask2d.tif``). We read those two files directly (the
package is never imported, so its TensorFlow stack is not needed: ``pip install --no-deps stardist``
is enough), turn instances into background/nucleus masks (segmentation) or one box per instance
(detection), and cut tiles: overlapping tiles from the left three quarters for train, disjoint tiles
from the right quarter for valid, so the splits share no pixel.
"""
from __future__ import annotations

from pathlib import Path
from importlib import metadata

import numpy as np

from nptrain.errors import UserError

NUCLEI_CLASSES = ["background", "nucleus"]
NUCLEI_DET_CLASSES = ["nucleus"]
NUCLEI_PALETTE = [(0, 0, 0), (255, 200, 0)]
_FILES = ("stardist/data/images/img2d.tif", "stardist/data/images/mask2d.tif")


def _stardist():
    """The installed stardist distribution, or None; nothing is imported."""
    try:
        return metadata.distribution("stardist")
    except metadata.PackageNotFoundError:
        return None


def stardist_installed() -> bool:
    """Whether the stardist distribution (the nuclei data's source) is installed."""
    return _stardist() is not None


def nuclei_source() -> tuple[Path, Path]:
    """Paths of the image and mask inside the installed stardist distribution (no import)."""
    dist = _stardist()
    if dist is None:
        raise UserError("nptrain data nuclei reads the image bundled with the stardist package, which is not "
                        "installed: pip install --no-deps stardist (only its data files are used)")
    paths = tuple(Path(str(dist.locate_file(f))) for f in _FILES)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise UserError(f"the installed stardist has no {', '.join(missing)}; reinstall it (version 0.9.x ships them)")
    return paths[0], paths[1]


def _load() -> tuple[np.ndarray, np.ndarray]:
    """(8-bit grey image, instance ids) of the bundled 512×512 picture."""
    # lazy: PIL
    from PIL import Image

    img_path, mask_path = nuclei_source()
    with Image.open(img_path) as im:
        image = np.asarray(im).astype(np.float64)
    with Image.open(mask_path) as im:
        instances = np.asarray(im)
    # stretch the 16-bit intensities to 8 bit with robust limits (the raw values span about 0-235)
    lo, hi = np.percentile(image, [0.5, 99.8])
    gray = np.clip((image - lo) / max(hi - lo, 1e-6) * 255, 0, 255).round().astype(np.uint8)
    return gray, instances


def _tiles(h: int, w: int, tile: int, train_stride: int) -> list[tuple[str, int, int]]:
    """``(split, y, x)`` of every tile: overlapping ones left of ``split_x`` for train, disjoint
    ones right of it for valid, so no pixel is in both splits."""
    split_x = (w * 3 // 4) // tile * tile
    out = [("train", y, x) for y in range(0, h - tile + 1, train_stride)
           for x in range(0, split_x - tile + 1, train_stride)]
    out += [("valid", y, x) for y in range(0, h - tile + 1, tile) for x in range(split_x, w - tile + 1, tile)]
    return out


def write_nuclei(out: str | Path, tile: int = 64, train_stride: int = 32) -> dict[str, int]:
    """``out/{train,valid}/{images,masks}/*.png`` tiles; returns the counts per split."""
    # lazy: PIL
    from PIL import Image

    gray, instances = _load()
    mask = (instances > 0).astype(np.uint8)
    flat_palette = [v for color in NUCLEI_PALETTE for v in color]
    out = Path(out)
    counts = {"train": 0, "valid": 0}
    for split, y, x in _tiles(*gray.shape, tile, train_stride):
        folder = out / split
        (folder / "images").mkdir(parents=True, exist_ok=True)
        (folder / "masks").mkdir(parents=True, exist_ok=True)
        name = f"y{y:03d}_x{x:03d}.png"
        Image.fromarray(np.repeat(gray[y:y + tile, x:x + tile, None], 3, axis=2)).save(folder / "images" / name)
        m = Image.frombytes("P", (tile, tile), np.ascontiguousarray(mask[y:y + tile, x:x + tile]).tobytes())
        m.putpalette(flat_palette)
        m.save(folder / "masks" / name)
        counts[split] += 1
    return counts


def instance_boxes(instances: np.ndarray, min_visible: float = 1.0,
                   full_areas: dict[int, int] | None = None) -> list[tuple[int, int, int, int]]:
    """Tight ``x1, y1, x2, y2`` (exclusive ends) of every instance id > 0 in ``instances``, sorted by id.
    With ``full_areas`` (pixels of each instance in the whole picture), instances a tile cuts so that
    less than ``min_visible`` of their pixels remain are left out (the same rule as crops use for boxes)."""
    boxes = []
    for k in np.unique(instances):
        if k == 0:
            continue
        ys, xs = np.nonzero(instances == k)
        if full_areas is not None and ys.size < min_visible * full_areas[int(k)]:
            continue
        boxes.append((int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))
    return boxes


def write_nuclei_detection(out: str | Path, tile: int = 128, train_stride: int = 32) -> dict[str, int]:
    """``out/{train,valid}/{images,labels}``: tiles with one YOLO box per nucleus (class 0, the
    bounding box of its instance pixels); returns the counts per split. Tiles are larger than for
    segmentation so that most nuclei (about 25 px across) lie whole inside a tile."""
    # lazy: torch, PIL
    from PIL import Image

    from nptrain.data.box_geometry import MIN_VISIBLE_FRACTION

    gray, instances = _load()
    ids, areas = np.unique(instances, return_counts=True)
    full_areas = {int(k): int(a) for k, a in zip(ids, areas)}
    out = Path(out)
    counts = {"train": 0, "valid": 0, "boxes_train": 0, "boxes_valid": 0}
    for split, y, x in _tiles(*gray.shape, tile, train_stride):
        folder = out / split
        (folder / "images").mkdir(parents=True, exist_ok=True)
        (folder / "labels").mkdir(parents=True, exist_ok=True)
        stem = f"y{y:03d}_x{x:03d}"
        Image.fromarray(np.repeat(gray[y:y + tile, x:x + tile, None], 3, axis=2)).save(folder / "images" / f"{stem}.png")
        boxes = instance_boxes(instances[y:y + tile, x:x + tile], MIN_VISIBLE_FRACTION, full_areas)
        lines = [f"0 {(x1 + x2) / 2 / tile:.6f} {(y1 + y2) / 2 / tile:.6f} {(x2 - x1) / tile:.6f} {(y2 - y1) / tile:.6f}\n"
                 for x1, y1, x2, y2 in boxes]
        (folder / "labels" / f"{stem}.txt").write_text("".join(lines))
        counts[split] += 1
        counts[f"boxes_{split}"] += len(boxes)
    return counts
