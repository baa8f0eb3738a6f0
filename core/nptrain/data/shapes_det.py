"""``nptrain data shapes-det DIR``: a deterministic synthetic detection dataset in YOLO (and COCO) form.

Images are 64-128 px on each side (independently, so aspect ratios vary and the resize step is
exercised) with zero to four non-overlapping filled shapes (rectangle, ellipse, triangle) of
random vivid colour on the grey textured background of ``nptrain data shapes``: the colour says
nothing about the class, the outline does. Each box is the tight bounding box of the pixels drawn,
so labels are exact. About one image in twenty has no object (empty label file).

Layout: ``DIR/{train,valid}/images/NNNN.png``, ``DIR/{train,valid}/labels/NNNN.txt`` (YOLO:
``class cx cy w h`` normalised) and ``DIR/{train,valid}/coco.json`` with the same boxes, so either
label format can be tried on it. Everything comes from one seeded numpy generator.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nptrain.data.shapes import _background, _vivid_color

DET_SHAPE_CLASSES = ["rectangle", "ellipse", "triangle"]
MIN_SIDE, MAX_SIDE = 64, 128
EMPTY_SHARE = 0.05


def _shape(kind: int, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Boolean mask of one shape of class ``kind`` placed at random inside an ``h × w`` image."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    short = min(h, w)
    bw, bh = rng.uniform(0.18, 0.45, 2) * short  # box size before rasterising
    cx, cy = rng.uniform(bw / 2, w - bw / 2), rng.uniform(bh / 2, h - bh / 2)
    if kind == 0:  # axis-aligned rectangle
        return (np.abs(xx - cx) <= bw / 2) & (np.abs(yy - cy) <= bh / 2)
    if kind == 1:  # axis-aligned ellipse
        return ((xx - cx) / (bw / 2)) ** 2 + ((yy - cy) / (bh / 2)) ** 2 <= 1.0
    # upright isosceles triangle: apex at the top centre, base along the bottom
    top = cy - bh / 2
    half = (yy - top) / bh * (bw / 2)
    return (yy >= top) & (yy <= cy + bh / 2) & (np.abs(xx - cx) <= half)


def _box(region: np.ndarray) -> tuple[int, int, int, int]:
    """Tight ``x1, y1, x2, y2`` (exclusive ends) of the pixels in ``region``."""
    ys, xs = np.nonzero(region)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def make_det_sample(rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[int, tuple[int, int, int, int]]]]:
    """One ``(uint8 RGB image (H, W, 3), [(class, (x1, y1, x2, y2)), ...])``."""
    h, w = (int(v) for v in rng.integers(MIN_SIDE, MAX_SIDE + 1, 2))
    img = _background(rng, h, w)
    objects: list[tuple[int, tuple[int, int, int, int]]] = []
    taken = np.zeros((h, w), bool)
    n = 0 if rng.uniform() < EMPTY_SHARE else int(rng.integers(1, 5))
    for _ in range(n):
        for _try in range(20):  # find a spot that does not touch earlier shapes (no occlusion)
            kind = int(rng.integers(0, len(DET_SHAPE_CLASSES)))
            region = _shape(kind, rng, h, w)
            x1, y1, x2, y2 = _box(region) if region.any() else (0, 0, 0, 0)
            if x2 - x1 >= 4 and y2 - y1 >= 4 and not taken[max(y1 - 2, 0):y2 + 2, max(x1 - 2, 0):x2 + 2].any():
                break
        else:
            continue
        taken[y1:y2, x1:x2] = True
        img[region] = _vivid_color(rng) + rng.normal(0, 0.02, (int(region.sum()), 3))
        objects.append((kind, (x1, y1, x2, y2)))
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8), objects


def write_shapes_det(out: str | Path, n_train: int = 320, n_valid: int = 80, seed: int = 0) -> dict[str, int]:
    """Write both splits; returns the image counts per split."""
    # lazy: PIL
    from PIL import Image

    out = Path(out)
    rng = np.random.default_rng(seed)
    counts = {}
    for split, n in (("train", n_train), ("valid", n_valid)):
        images_dir, labels_dir = out / split / "images", out / split / "labels"
        images_dir.mkdir(parents=True, exist_ok=True)
        labels_dir.mkdir(parents=True, exist_ok=True)
        coco: dict = {"images": [], "annotations": [],
                      "categories": [{"id": i + 1, "name": name} for i, name in enumerate(DET_SHAPE_CLASSES)]}
        for i in range(n):
            img, objects = make_det_sample(rng)
            h, w = img.shape[:2]
            name = f"{i:04d}.png"
            Image.fromarray(img).save(images_dir / name)
            lines = [f"{c} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}"
                     for c, (x1, y1, x2, y2) in objects]
            (labels_dir / f"{i:04d}.txt").write_text("".join(line + "\n" for line in lines))
            coco["images"].append({"id": i + 1, "file_name": name, "width": w, "height": h})
            for c, (x1, y1, x2, y2) in objects:
                coco["annotations"].append({"id": len(coco["annotations"]) + 1, "image_id": i + 1, "category_id": c + 1,
                                            "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1),
                                            "iscrowd": 0})
        (out / split / "coco.json").write_text(json.dumps(coco))
        counts[split] = n
    return counts
