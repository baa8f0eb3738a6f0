"""Detection label formats → per-image records with ``xyxy`` pixel boxes.

* **YOLO txt**: ``images/`` and ``labels/`` folders; ``labels/<stem>.txt`` holds one
  ``class cx cy w h`` line per object, coordinates normalised to [0, 1]. A missing or empty label
  file means an image with no objects (the YOLO convention, e.g. for background images).
* **COCO json**: one file with ``images`` (``id, file_name, width, height``), ``annotations``
  (``image_id, category_id, bbox = [x, y, w, h]`` pixels) and ``categories`` (``id, name``).
  Category ids map to class indices in ascending id order; ``iscrowd`` annotations are skipped
  (COCO evaluation ignores them too).

Every problem raises :class:`~nptrain.errors.UserError` naming the file and line (YOLO) or the
annotation (COCO). Boxes may overshoot the image by ``tolerance`` (a fraction of its side, for
rounding in labelling tools) and are then clipped; further out is an error.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional, Sequence

import attrs
import numpy as np

from nptrain.data.datasets import IMAGE_SUFFIXES, list_images
from nptrain.errors import UserError
from nptrain.data.image_io import image_size

DEFAULT_TOLERANCE = 0.01


@attrs.frozen
class DetectionSample:
    """One image: ``boxes (N, 4)`` float32 ``xyxy`` pixels, ``classes (N,)`` int64 (N may be 0)."""

    image: Path
    width: int
    height: int
    boxes: np.ndarray
    classes: np.ndarray


def _image_size(path: Path) -> tuple[int, int]:
    return image_size(path)  # reads the header only: size bounded, mode checked


def _check_box(box: list[float], width: float, height: float, tolerance: float, where: str) -> list[float]:
    """Validate an ``xyxy`` pixel box and clip it to the image; ``where`` prefixes any error."""
    x1, y1, x2, y2 = box
    if not all(math.isfinite(v) for v in box):
        raise UserError(f"{where}: box {box} has a non-finite coordinate")
    if x2 <= x1 or y2 <= y1:
        raise UserError(f"{where}: box has zero or negative width/height ({x2 - x1:g} × {y2 - y1:g} px)")
    tx, ty = tolerance * width, tolerance * height
    if x1 < -tx or y1 < -ty or x2 > width + tx or y2 > height + ty:
        raise UserError(f"{where}: box [{x1:g}, {y1:g}, {x2:g}, {y2:g}] lies outside the {width}×{height} image "
                        f"(more than {tolerance:.0%} of its side)")
    return [min(max(x1, 0.0), width), min(max(y1, 0.0), height), min(max(x2, 0.0), width), min(max(y2, 0.0), height)]


def _arrays(boxes: list[list[float]], classes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(boxes, dtype=np.float32).reshape(-1, 4), np.asarray(classes, dtype=np.int64)


def parse_yolo_label(text: str, path: Path, width: int, height: int, num_classes: int,
                     tolerance: float = DEFAULT_TOLERANCE) -> tuple[np.ndarray, np.ndarray]:
    """One YOLO label file's text → (boxes xyxy pixels, classes). ``path`` is used in messages."""
    boxes, classes = [], []
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path}:{lineno}"
        parts = line.split()
        if len(parts) != 5:
            raise UserError(f"{where}: expected 'class cx cy w h' (5 values), got {len(parts)}: {line!r}")
        try:
            cls_f = float(parts[0])
            cx, cy, w, h = (float(v) for v in parts[1:])
        except ValueError:
            raise UserError(f"{where}: non-numeric value in {line!r}") from None
        if cls_f != int(cls_f):
            raise UserError(f"{where}: class id must be an integer, got {parts[0]!r}")
        cls = int(cls_f)
        if not 0 <= cls < num_classes:
            raise UserError(f"{where}: unknown class id {cls} (the dataset has classes 0..{num_classes - 1})")
        if max(cx, cy, w, h) > 1 + tolerance:  # the usual mistake: pixel coordinates
            raise UserError(f"{where}: YOLO coordinates are normalised to [0, 1] (cx cy w h), got {line!r}")
        box = [(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height]
        boxes.append(_check_box(box, width, height, tolerance, where))
        classes.append(cls)
    return _arrays(boxes, classes)


def load_yolo(image_dir: Path | str, label_dir: Path | str, num_classes: int,
              tolerance: float = DEFAULT_TOLERANCE) -> list[DetectionSample]:
    """Every image in ``image_dir`` (sorted) with ``label_dir/<stem>.txt``; label files without an
    image are an error (usually a renamed or deleted image)."""
    image_dir, label_dir = Path(image_dir), Path(label_dir)
    for folder in (image_dir, label_dir):
        if not folder.is_dir():
            raise UserError(f"folder not found: {folder}")
    images = list_images(image_dir)
    if not images:
        raise UserError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {image_dir}")
    stems = {p.stem for p in images}
    orphans = sorted(p.name for p in label_dir.glob("*.txt") if p.stem not in stems)
    if orphans:
        raise UserError(f"{label_dir}: {len(orphans)} label file(s) have no image in {image_dir}, e.g. {orphans[0]}")
    out = []
    for image in images:
        width, height = _image_size(image)
        label = label_dir / f"{image.stem}.txt"
        text = label.read_text(encoding="utf-8") if label.exists() else ""
        boxes, classes = parse_yolo_label(text, label, width, height, num_classes, tolerance)
        out.append(DetectionSample(image, width, height, boxes, classes))
    return out


def _field(obj: Any, key: str, kind: type | tuple, where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise UserError(f"{where}: missing '{key}'")
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise UserError(f"{where}: '{key}' must be {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def load_coco(json_path: Path | str, image_dir: Optional[Path | str] = None, tolerance: float = DEFAULT_TOLERANCE,
              class_names: Optional[Sequence[str]] = None) -> tuple[list[DetectionSample], list[str]]:
    """A COCO detection json → (samples in ``images`` order, class names). Images resolve against
    ``image_dir`` (default: the json's folder). ``class_names``, if given, must match the categories."""
    json_path = Path(json_path)
    root = Path(image_dir) if image_dir is not None else json_path.parent
    try:
        data = json.loads(json_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"annotation file not found: {json_path}") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{json_path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise UserError(f"{json_path}: expected an object with images, annotations, categories")
    cats = _field(data, "categories", list, str(json_path))
    images = _field(data, "images", list, str(json_path))
    anns = data.get("annotations", [])
    if not isinstance(anns, list):
        raise UserError(f"{json_path}: 'annotations' must be a list")
    cat_ids: list[int] = []
    names: dict[int, str] = {}
    for i, cat in enumerate(cats):
        where = f"{json_path}: categories[{i}]"
        cid = _field(cat, "id", int, where)
        if cid in names:
            raise UserError(f"{where}: duplicate category id {cid}")
        names[cid] = str(cat.get("name", cid))
        cat_ids.append(cid)
    index_of = {cid: i for i, cid in enumerate(sorted(cat_ids))}
    class_list = [names[c] for c in sorted(cat_ids)]
    if class_names is not None and list(class_names) != class_list:
        raise UserError(f"{json_path}: categories {class_list} differ from the configured classes {list(class_names)}")
    samples: dict[int, tuple[Path, int, int, list, list]] = {}
    for i, img in enumerate(images):
        where = f"{json_path}: images[{i}]"
        iid = _field(img, "id", int, where)
        if iid in samples:
            raise UserError(f"{where}: duplicate image id {iid}")
        name = _field(img, "file_name", str, where)
        w, h = _field(img, "width", int, where), _field(img, "height", int, where)
        if w <= 0 or h <= 0:
            raise UserError(f"{where}: width and height must be positive, got {w}×{h}")
        samples[iid] = (root / name, w, h, [], [])
    for i, ann in enumerate(anns):
        where = f"{json_path}: annotations[{i}]" + (f" (id {ann['id']})" if isinstance(ann, dict) and "id" in ann else "")
        iid = _field(ann, "image_id", int, where)
        if iid not in samples:
            raise UserError(f"{where}: image_id {iid} is not in 'images'")
        cid = _field(ann, "category_id", int, where)
        if cid not in index_of:
            raise UserError(f"{where}: unknown category_id {cid} (categories: {sorted(index_of)})")
        if ann.get("iscrowd", 0):
            continue
        bbox = _field(ann, "bbox", list, where)
        if len(bbox) != 4 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox):
            raise UserError(f"{where}: bbox must be [x, y, width, height] numbers, got {bbox!r}")
        x, y, bw, bh = (float(v) for v in bbox)
        path, w, h, boxes, classes = samples[iid]
        boxes.append(_check_box([x, y, x + bw, y + bh], w, h, tolerance, where))
        classes.append(index_of[cid])
    out = [DetectionSample(path, w, h, *_arrays(boxes, classes)) for path, w, h, boxes, classes in samples.values()]
    return out, class_list
