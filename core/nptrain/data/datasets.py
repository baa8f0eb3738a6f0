"""Local datasets: class-per-folder and CSV (``image_id,class``) for classification.

Paths are used as written: relative paths resolve against the current directory, or against
``data.path.root`` when it is set. Every problem names the file or folder the user has to fix.
Images decode to float ``(3, H, W)`` tensors in [0, 1] (PIL, always converted to RGB; 16-bit and
float files scaled, see ``nptrain.data.image_io``).
"""
from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch

from nptrain.config.sections import DataConfig, SplitPath
from nptrain.data.seeded import SeededDataset
from nptrain.errors import UserError
from nptrain.data.image_io import read_image_array
from nptrain.data.image_io import check_image_header

IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")


def list_images(folder: Path) -> list[Path]:
    """The image files directly inside ``folder`` (by suffix), sorted."""
    return sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)


def read_image(path: Path) -> torch.Tensor:
    """Decode one image as uint8 ``(3, H, W)``: 16-bit and float images scaled, alpha dropped (said
    once), oversized or unreadable files a UserError naming them (see ``nptrain.data.image_io``)."""
    arr = read_image_array(path)
    return torch.from_numpy(np.array(arr, copy=True)).permute(2, 0, 1).contiguous()  # PIL's buffer is read-only


def _resolve(path: str, root: Optional[str]) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() or root is None else Path(root).expanduser() / p


def load_id_mapping(spec: Any, root: Optional[str]) -> Optional[list[str]]:
    """``id_mapping`` as a list of class names (index = class id). Accepts a list, a dict
    ``{id: name}`` (int or str keys) or ``{name: id}``, or a .json file holding one of them."""
    if spec is None:
        return None
    if isinstance(spec, str):
        path = _resolve(spec, root)
        if not path.is_file():
            raise UserError(f"data.id_mapping: file not found: {path}")
        try:
            spec = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UserError(f"data.id_mapping: {path} is not valid JSON ({exc})") from None
    if isinstance(spec, list):
        return [str(x) for x in spec]
    if isinstance(spec, dict):
        def as_int(v: Any) -> Optional[int]:
            try:
                return int(v)
            except (TypeError, ValueError):
                return None
        if all(as_int(k) is not None for k in spec):
            items = sorted((as_int(k), str(v)) for k, v in spec.items())
        elif all(as_int(v) is not None for v in spec.values()):
            items = sorted((as_int(v), str(k)) for k, v in spec.items())
        else:
            raise UserError("data.id_mapping: a mapping must be {id: name} or {name: id} with integer ids")
        ids = [i for i, _ in items]
        if ids != list(range(len(ids))):
            raise UserError(f"data.id_mapping: ids must be 0..{len(ids) - 1} without gaps, got {ids}")
        return [name for _, name in items]
    raise UserError(f"data.id_mapping: expected a list, a mapping or a .json file, got {type(spec).__name__}")


def _scan_folder(folder: Path, classes: Optional[list[str]],
                 field: str = "data.path.train.image") -> tuple[list[tuple[Path, int]], list[str]]:
    # hidden folders (.ipynb_checkpoints, .cache) are tool litter, never classes
    subdirs = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not subdirs:
        raise UserError(f"{folder}: no class subfolders (expected one folder per class, or set path.*.label "
                        "to a CSV file image_id,class)")
    if classes is None:
        classes = subdirs
    unknown = [d for d in subdirs if d not in classes]
    if unknown:
        raise UserError(f"{folder}: class folder(s) {', '.join(unknown)} are not in data.id_mapping "
                        f"({', '.join(classes[:10])}{' …' if len(classes) > 10 else ''})")
    index = {name: i for i, name in enumerate(classes)}
    images = {d: list_images(folder / d) for d in subdirs}
    empty = [d for d in subdirs if not images[d]]
    if empty:  # it would still count as a class: a class the model can never learn or be scored on
        raise UserError(f"{field}: class folder {folder / empty[0]} holds no images ({', '.join(IMAGE_SUFFIXES)})"
                        f"{f' (nor do {len(empty) - 1} more)' if len(empty) > 1 else ''}; add images to it or "
                        "delete it")
    samples = [(f, index[d]) for d in subdirs for f in images[d]]
    return samples, classes


def _read_csv(folder: Path, label_file: Path, classes: Optional[list[str]]) -> tuple[list[tuple[Path, int]], list[str]]:
    if not label_file.is_file():
        raise UserError(f"label file not found: {label_file}")
    with label_file.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if rows and not {"image_id", "class"} <= set(rows[0]):
        raise UserError(f"{label_file}: expected the header image_id,class; got {','.join(rows[0])}")
    if classes is None:  # no mapping: class names are the sorted distinct values
        classes = sorted({r["class"] for r in rows}, key=lambda c: (not c.isdigit(), int(c) if c.isdigit() else 0, c))
    index = {name: i for i, name in enumerate(classes)}
    samples = []
    for line, row in enumerate(rows, start=2):
        name = row["class"]
        if name in index:
            label = index[name]
        elif name.isdigit() and int(name) < len(classes):
            label = int(name)
        else:
            raise UserError(f"{label_file}:{line}: class {name!r} is not in data.id_mapping "
                            f"({', '.join(classes[:10])}{' …' if len(classes) > 10 else ''})")
        samples.append((folder / row["image_id"], label))
    return samples, classes


class ImageClassificationDataset(SeededDataset):
    """``(path, label)`` samples; targets are ``{"label": int}``."""

    def decode(self, index: int) -> torch.Tensor:
        return read_image(self.samples[index][0])

    def check_headers(self, index: int) -> None:
        check_image_header(self.samples[index][0])

    def image_and_target(self, index: int, decoded: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        return decoded, {"label": self.samples[index][1]}


def build_dataset(data: DataConfig, split: str, transform: Optional[Callable] = None,
                  classes: Optional[list[str]] = None) -> ImageClassificationDataset:
    """The ``split`` (train/valid/test) of ``data``; ``classes`` pins the mapping found on train."""
    if data.format == "huggingface":
        # lazy: the datasets library (an optional extra) only for this format
        from nptrain.data.huggingface import classification_split

        column, names = classification_split(data, split, classes)
        return ImageClassificationDataset(column, names, transform)
    sp: Optional[SplitPath] = getattr(data.path, split)
    if sp is None or sp.image is None:
        raise UserError(f"data.path.{split}.image is not set (a folder with one subfolder per class, "
                        "or images plus data.path.{split}.label CSV)")
    root = data.path.root
    folder = _resolve(sp.image, root)
    if not folder.is_dir():
        hint = " (relative paths are resolved against the current directory, or data.path.root)"
        raise UserError(f"data.path.{split}.image: folder not found: {folder}{hint}")
    mapping = classes if classes is not None else load_id_mapping(data.id_mapping, root)
    if sp.label:
        samples, names = _read_csv(folder, _resolve(sp.label, root), mapping)
    else:
        samples, names = _scan_folder(folder, mapping, f"data.path.{split}.image")
    if not samples:
        raise UserError(f"data.path.{split}.image: no images found in {folder}")
    for path, _ in samples:
        if not path.is_file():
            raise UserError(f"image not found: {path}")
    return ImageClassificationDataset(samples, names, transform)


def fingerprint(ds: ImageClassificationDataset) -> str:
    """Short hash of the file list and labels (stored in checkpoints to catch data changes on resume)."""
    h = hashlib.sha1()
    for p, label in ds.samples:
        h.update(f"{p.name}:{label};".encode())
    return h.hexdigest()[:12]
