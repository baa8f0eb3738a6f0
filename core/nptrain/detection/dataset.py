"""Local detection datasets: YOLO txt or COCO json labels, chosen by what ``path.<split>.label`` names.

* a **folder** → YOLO txt: ``label/<image stem>.txt`` per image, lines ``class cx cy w h`` normalised
  to [0, 1]; a missing or empty file is an image without objects. YOLO files hold class ids only,
  so ``data.id_mapping`` (the class names, index = id) is required.
* a **.json file** → COCO: ``images``/``annotations``/``categories``; ``file_name`` resolves against
  ``path.<split>.image``. Classes are the categories in ascending id order; an ``id_mapping``, if
  set, must name the same classes.

All labels are read and validated when the dataset is built (before the first step), so a bad
box or class id stops the run at once with the file and line (YOLO) or annotation (COCO) to fix.
Targets are ``{"boxes": (N, 4) float xyxy pixels of the transformed image, "classes": (N,) long,
"image_size": (2,) long [H, W] of the transformed image}``; the loader keeps boxes and classes as
per-image lists because N varies.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

import torch

from nptrain.config.sections import DataConfig, SplitPath
from nptrain.data.datasets import _resolve, load_id_mapping, read_image
from nptrain.data.seeded import SeededDataset
from nptrain.detection.formats import load_coco, load_yolo
from nptrain.errors import UserError
from nptrain.data.image_io import image_size


class DetectionDataset(SeededDataset):
    """Validated samples; targets are ``{"boxes": (N, 4) xyxy pixels, "classes": (N,)}`` plus, after the
    transforms, ``image_size`` (H, W) of the transformed image."""

    def decode(self, index: int) -> torch.Tensor:
        sample = self.samples[index]
        image = read_image(sample.image)
        if tuple(image.shape[-2:]) != (sample.height, sample.width):
            # COCO json sizes are trusted for validation; a file of another size would misplace every box
            raise UserError(f"image {sample.image} is {image.shape[2]}x{image.shape[1]} but its labels say "
                            f"{sample.width}x{sample.height} (width x height)")
        return image

    def check_headers(self, index: int) -> None:
        sample = self.samples[index]
        width, height = image_size(sample.image)  # COCO sizes come from the json: compare them here
        if (width, height) != (sample.width, sample.height):
            raise UserError(f"image {sample.image} is {width}x{height} but its labels say "
                            f"{sample.width}x{sample.height} (width x height)")

    def image_and_target(self, index: int, decoded: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        sample = self.samples[index]
        return decoded, {"boxes": torch.from_numpy(sample.boxes.copy()), "classes": torch.from_numpy(sample.classes.copy())}

    def finish(self, image: torch.Tensor, target: dict[str, Any]) -> dict[str, Any]:
        target["image_size"] = torch.tensor(image.shape[-2:], dtype=torch.long)
        return target


def _split_paths(data: DataConfig, split: str) -> tuple[Path, Path]:
    sp: Optional[SplitPath] = getattr(data.path, split)
    if sp is None or sp.image is None or sp.label is None:
        raise UserError(f"data.path.{split}: detection needs image (folder of images) and label (a folder of "
                        "YOLO .txt files, or a COCO .json file)")
    hint = " (relative paths are resolved against the current directory, or data.path.root)"
    image_dir = _resolve(sp.image, data.path.root)
    if not image_dir.is_dir():
        raise UserError(f"data.path.{split}.image: folder not found: {image_dir}{hint}")
    label = _resolve(sp.label, data.path.root)
    if not label.exists():
        raise UserError(f"data.path.{split}.label: not found: {label}{hint}")
    if label.is_file() and label.suffix.lower() != ".json":
        raise UserError(f"data.path.{split}.label: {label} is a file but not .json; detection labels are a "
                        "folder of YOLO .txt files or a COCO .json file")
    return image_dir, label


def build_det_dataset(data: DataConfig, split: str, transform: Optional[Callable] = None,
                      classes: Optional[list[str]] = None) -> DetectionDataset:
    """The ``split`` of a local detection dataset; ``classes`` pins the names found on train."""
    image_dir, label = _split_paths(data, split)
    names = classes if classes is not None else load_id_mapping(data.id_mapping, data.path.root)
    if label.is_dir():
        if names is None:
            raise UserError("data.id_mapping is required for YOLO labels (they hold class ids only): "
                            "list the class names, index = class id, e.g. [cat, dog]")
        samples = load_yolo(image_dir, label, len(names))
    else:
        samples, coco_names = load_coco(label, image_dir, class_names=names)
        names = names if names is not None else coco_names
        for sample in samples:
            if not sample.image.is_file():
                raise UserError(f"{label}: image {sample.image.name} not found in {image_dir}")
    if not samples:
        raise UserError(f"data.path.{split}: no images in {label}")
    if not names:
        raise UserError(f"data.path.{split}: the dataset defines no classes")
    return DetectionDataset(samples, list(names), transform)
