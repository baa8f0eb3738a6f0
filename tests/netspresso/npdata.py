"""Tiny datasets in NetsPresso Trainer 1.x's local layout (the layout its configs point at).

classification: images/{train,valid}/NNNNN.png, labels/{train,valid}.csv (image_id,class id), id_mapping.json
segmentation:   images/{train,valid}/NNNNN.png, labels/{train,valid}/NNNNN.png (mode L, 255 = void), id_mapping.json
detection:      images/{train,valid}/NNNNN.png, labels/{train,valid}/NNNNN.txt (YOLO), id_mapping list in the config
Seeded, so the same call writes the same files.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CLS_NAMES = ["class_0", "class_1", "class_2"]
SEG_NAMES = ["road", "sidewalk", "building", "car"]
DET_NAMES = ["square", "disc"]


def _colour(c: int) -> tuple[int, int, int]:
    return ((60 + 90 * c) % 256, (200 - 70 * c) % 256, (30 + 110 * c) % 256)


def make_cls(root: Path, n_train: int = 6, n_valid: int = 3, size: int = 40) -> Path:
    rng = np.random.default_rng(0)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("valid", n_valid)):
        folder = root / "images" / split
        folder.mkdir(parents=True, exist_ok=True)
        rows = []
        for i in range(n):
            c = i % len(CLS_NAMES)
            img = Image.fromarray(rng.integers(0, 60, (size, size, 3), dtype=np.uint8))
            ImageDraw.Draw(img).rectangle((8, 8, size - 8, size - 8), fill=_colour(c))
            img.save(folder / f"{i:05d}.png")
            rows.append((f"{i:05d}.png", c))
        with (root / "labels" / f"{split}.csv").open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["image_id", "class"])
            writer.writerows(rows)
    (root / "id_mapping.json").write_text(json.dumps(CLS_NAMES))
    return root


def make_seg(root: Path, n_train: int = 4, n_valid: int = 2, size: int = 64) -> Path:
    rng = np.random.default_rng(1)
    for split, n in (("train", n_train), ("valid", n_valid)):
        images, labels = root / "images" / split, root / "labels" / split
        images.mkdir(parents=True, exist_ok=True)
        labels.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            mask = Image.new("L", (size, size), 0)
            draw = ImageDraw.Draw(mask)
            for c in range(1, len(SEG_NAMES)):
                x, y = (int(v) for v in rng.integers(0, size - 20, 2))
                draw.rectangle((x, y, x + 18, y + 18), fill=c)
            draw.line((0, size // 2, size, size // 2), fill=255, width=1)
            m = np.array(mask)
            lut = np.array([_colour(c) for c in range(len(SEG_NAMES))] + [(0, 0, 0)] * 252, dtype=np.int16)
            img = np.clip(lut[m] + rng.integers(-15, 15, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(images / f"{i:05d}.png")
            mask.save(labels / f"{i:05d}.png")
    (root / "id_mapping.json").write_text(json.dumps(SEG_NAMES))
    return root


def make_det(root: Path, n_train: int = 4, n_valid: int = 2, size: int = 64) -> Path:
    rng = np.random.default_rng(2)
    for split, n in (("train", n_train), ("valid", n_valid)):
        images, labels = root / "images" / split, root / "labels" / split
        images.mkdir(parents=True, exist_ok=True)
        labels.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img = Image.fromarray(rng.integers(0, 50, (size, size, 3), dtype=np.uint8))
            draw = ImageDraw.Draw(img)
            lines = []
            for c in range(len(DET_NAMES)):
                w = int(rng.integers(12, 24))
                x, y = (int(v) for v in rng.integers(0, size - w, 2))
                (draw.rectangle if c == 0 else draw.ellipse)((x, y, x + w, y + w), fill=_colour(c))
                lines.append(f"{c} {(x + w / 2) / size:.5f} {(y + w / 2) / size:.5f} {w / size:.5f} {w / size:.5f}")
            img.save(images / f"{i:05d}.png")
            (labels / f"{i:05d}.txt").write_text("\n".join(lines) + "\n")
    return root
