"""Local segmentation datasets: an image folder and a mask folder per split, paired by file stem.

Masks are index images (PIL mode L/P/I;16: the pixel value is the class id) or RGB images whose
colours map to class ids through ``data.pallete`` or an ``id_mapping`` of ``{colour: name}``.
``data.ignore_index`` pixels (255 by default) are kept and excluded by the loss and the metrics.
Every problem names the file to fix: an image without a mask, a mask of another size, a class id
outside the mapping, a colour that is not in the palette.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import attrs
import numpy as np
import torch

from nptrain.config.sections import DataConfig, PathPattern, SplitPath
from nptrain.data.datasets import _resolve, list_images, load_id_mapping, read_image
from nptrain.data.seeded import SeededDataset
from nptrain.errors import UserError
from nptrain.data.image_io import check_mask_mode, open_image
from nptrain.data.image_io import check_mask_header, image_size

Color = tuple[int, int, int]
_MAX_LISTED = 5  # how many offending ids/colours an error message shows


def parse_color(value: Any) -> Optional[Color]:
    """``(r, g, b)`` from ``[r, g, b]``, ``"(r, g, b)"``, ``"[r,g,b]"`` or ``"r,g,b"``; None if it is not a colour."""
    if isinstance(value, str):
        parts = [p for p in re.split(r"[\s,()\[\]]+", value) if p]
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            return None
        value = [int(p) for p in parts]
    if isinstance(value, (list, tuple)) and len(value) == 3 and all(isinstance(v, int) for v in value):
        if all(0 <= v <= 255 for v in value):
            return int(value[0]), int(value[1]), int(value[2])
    return None


@attrs.define
class SegClasses:
    """Class names (index = class id) and, for RGB masks, the colour of each id."""

    names: Optional[list[str]]
    palette: Optional[list[Color]]


def resolve_seg_classes(data: DataConfig) -> SegClasses:
    """Names and palette from ``id_mapping`` and ``pallete`` (either may be absent)."""
    palette: Optional[list[Color]] = None
    if data.pallete is not None:
        palette = []
        for i, entry in enumerate(data.pallete):
            color = parse_color(list(entry) if isinstance(entry, (list, tuple)) else entry)
            if color is None:
                raise UserError(f"data.pallete[{i}]: expected [r, g, b] with values 0-255, got {entry!r}")
            palette.append(color)
    spec = data.id_mapping
    names: Optional[list[str]]
    if isinstance(spec, dict) and spec and all(parse_color(k) is not None for k in spec):
        # the reference's segmentation form {"(r, g, b)": name}: order of the mapping = class id
        colors = [parse_color(k) for k in spec]
        names = [str(v) for v in spec.values()]
        if palette is not None and palette != colors:
            raise UserError("data.pallete and the colours of data.id_mapping disagree; set only one of them")
        palette = [c for c in colors if c is not None]
    else:
        names = load_id_mapping(spec, data.path.root)
    if palette is not None:
        if len(set(palette)) != len(palette):
            raise UserError("data.pallete: two classes have the same colour")
        if names is None:
            names = [str(i) for i in range(len(palette))]
        elif len(names) != len(palette):
            raise UserError(f"data.pallete has {len(palette)} colours but data.id_mapping has {len(names)} classes")
    return SegClasses(names=names, palette=palette)


def _key(path: Path, pattern: Optional[str]) -> Optional[str]:
    """The pairing key of a file, or None when the file does not match ``pattern``."""
    if pattern is None:
        return path.stem
    m = re.fullmatch(pattern, path.name)
    if m is None:
        return None
    return m.group(1) if m.groups() else path.stem


def _compile_check(pattern: Optional[str], where: str) -> None:
    if pattern is None:
        return
    try:
        re.compile(pattern)
    except re.error as exc:
        raise UserError(f"{where}: invalid regular expression {pattern!r} ({exc})") from None


def pair_files(image_dir: Path, label_dir: Path, pattern: Optional[PathPattern] = None) -> list[tuple[Path, Path]]:
    """``(image, mask)`` pairs matched by key; an image without a mask is an error naming it.
    Masks without an image are ignored (a label folder may hold more than the split uses)."""
    img_pat = pattern.image if pattern else None
    lbl_pat = pattern.label if pattern else None
    _compile_check(img_pat, "data.path.pattern.image")
    _compile_check(lbl_pat, "data.path.pattern.label")
    masks: dict[str, Path] = {}
    for f in list_images(label_dir):
        key = _key(f, lbl_pat)
        if key is None:
            continue
        if key in masks:
            raise UserError(f"{label_dir}: masks {masks[key].name} and {f.name} both pair with key {key!r}")
        masks[key] = f
    pairs = []
    for f in list_images(image_dir):
        key = _key(f, img_pat)
        if key is None:
            continue
        if key not in masks:
            raise UserError(f"image {f} has no mask in {label_dir} (masks are matched by file stem"
                            + (", after data.path.pattern" if pattern else "") + ")")
        pairs.append((f, masks[key]))
    return pairs


def _palette_lookup(rgb: np.ndarray, palette: Sequence[Color], path: Path) -> np.ndarray:
    codes = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    uniq, inverse = np.unique(codes.reshape(-1), return_inverse=True)
    table = {(r << 16) | (g << 8) | b: i for i, (r, g, b) in enumerate(palette)}
    unknown = [int(c) for c in uniq if int(c) not in table]
    if unknown:
        shown = ", ".join(f"({c >> 16}, {(c >> 8) & 255}, {c & 255})" for c in unknown[:_MAX_LISTED])
        more = f" and {len(unknown) - _MAX_LISTED} more" if len(unknown) > _MAX_LISTED else ""
        raise UserError(f"mask {path}: colour(s) {shown}{more} are not in data.pallete / data.id_mapping")
    ids = np.array([table[int(c)] for c in uniq], dtype=np.int64)
    return ids[inverse].reshape(codes.shape)


def read_mask(path: Path, *, num_classes: Optional[int], ignore_index: int,
              palette: Optional[Sequence[Color]] = None, mode: Optional[str] = None) -> torch.Tensor:
    """Decode one mask to int64 class ids ``(H, W)``; ids must be < ``num_classes`` or ``ignore_index``."""
    with open_image(path, "mask") as img:
        check_mask_mode(img, path)
        as_rgb = mode == "RGB" or (mode is None and img.mode in ("RGB", "RGBA"))
        if as_rgb:
            rgb = np.asarray(img.convert("RGB"))
            if palette is not None:
                ids = _palette_lookup(rgb, palette, path)
            elif (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
                ids = rgb[..., 0].astype(np.int64)  # a grey index mask saved as RGB
            else:
                raise UserError(f"mask {path} is a colour (RGB) image: set data.pallete or a colour "
                                "data.id_mapping ({'(r, g, b)': name}) to map colours to classes")
        elif img.mode in ("L", "P", "I", "I;16", "I;16B", "I;16L", "1"):
            ids = np.asarray(img).astype(np.int64)  # P: the palette indices are the class ids
        else:
            ids = np.asarray(img.convert("L")).astype(np.int64)
    if num_classes is not None:
        bad = np.unique(ids[(ids >= num_classes) & (ids != ignore_index) | (ids < 0)])
        if bad.size:
            shown = ", ".join(str(int(v)) for v in bad[:_MAX_LISTED])
            raise UserError(f"mask {path}: class id(s) {shown} are outside 0..{num_classes - 1} "
                            f"(data.id_mapping has {num_classes} classes; data.ignore_index is {ignore_index})")
    return torch.from_numpy(ids)


class SegmentationDataset(SeededDataset):
    """``(image, mask)`` path pairs; targets are ``{"mask": LongTensor (H, W)}``."""

    def __init__(self, samples: list[tuple[Path, Path]], classes: list[str], transform: Optional[Callable] = None,
                 *, ignore_index: int = 255, palette: Optional[list[Color]] = None,
                 label_mode: Optional[str] = None) -> None:
        super().__init__(samples, classes, transform)
        self.ignore_index = ignore_index
        self.palette = palette
        self.label_mode = label_mode

    def decode(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        img_path, mask_path = self.samples[index]
        image = read_image(img_path)
        mask = read_mask(mask_path, num_classes=len(self.classes), ignore_index=self.ignore_index,
                         palette=self.palette, mode=self.label_mode)
        if tuple(mask.shape) != tuple(image.shape[-2:]):
            raise UserError(f"mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} but image {img_path} is "
                            f"{image.shape[2]}x{image.shape[1]} (width x height); they must match")
        return image, mask

    def check_headers(self, index: int) -> None:
        img_path, mask_path = self.samples[index]
        size, mask_size = image_size(img_path), check_mask_header(mask_path)
        if size != mask_size:
            raise UserError(f"mask {mask_path} is {mask_size[0]}x{mask_size[1]} but image {img_path} is "
                            f"{size[0]}x{size[1]} (width x height); they must match")

    def compact(self, decoded: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        # cached masks are uint8 when the ids allow (255 = ignore included)
        image, mask = decoded
        small = mask.numel() == 0 or (int(mask.min()) >= 0 and int(mask.max()) < 256)
        return image, mask.to(torch.uint8) if small else mask.to(torch.int32)

    def image_and_target(self, index: int, decoded: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict[str, Any]]:
        image, mask = decoded
        return image, {"mask": mask.long()}


def _split_dirs(data: DataConfig, split: str) -> tuple[Path, Path]:
    sp: Optional[SplitPath] = getattr(data.path, split)
    if sp is None or sp.image is None or sp.label is None:
        raise UserError(f"data.path.{split}: segmentation needs both image (folder of images) and "
                        "label (folder of masks, matched by file stem)")
    root = data.path.root
    hint = " (relative paths are resolved against the current directory, or data.path.root)"
    dirs = []
    for field, value in (("image", sp.image), ("label", sp.label)):
        folder = _resolve(value, root)
        if not folder.is_dir():
            raise UserError(f"data.path.{split}.{field}: folder not found: {folder}{hint}")
        dirs.append(folder)
    return dirs[0], dirs[1]


def _infer_names(pairs: list[tuple[Path, Path]], data: DataConfig) -> list[str]:
    """No id_mapping and no palette: the classes are 0..max id found in the masks (ignore_index excluded)."""
    top = -1
    for _, mask_path in pairs:
        ids = read_mask(mask_path, num_classes=None, ignore_index=data.ignore_index, mode=data.label_image_mode)
        ids = ids[ids != data.ignore_index]
        if ids.numel():
            top = max(top, int(ids.max()))
    if top < 0:
        raise UserError("segmentation masks hold no class ids besides data.ignore_index; set data.id_mapping")
    return [str(i) for i in range(top + 1)]


def build_seg_dataset(data: DataConfig, split: str, transform: Optional[Callable] = None,
                      classes: Optional[list[str]] = None) -> SegmentationDataset:
    """The ``split`` of a local (or Hugging Face) segmentation dataset; ``classes`` pins the names found on train."""
    info = resolve_seg_classes(data)
    if data.format == "huggingface":
        if not (classes or info.names):
            raise UserError("data.id_mapping: a Hugging Face segmentation dataset needs the class names "
                            "(data.id_mapping), as NetsPresso Trainer does")
        # lazy: the datasets library (an optional extra) only for this format
        from nptrain.data.huggingface import segmentation_split

        return SegmentationDataset(segmentation_split(data, split), classes or info.names, transform,
                                   ignore_index=data.ignore_index, palette=info.palette,
                                   label_mode=data.label_image_mode)
    image_dir, label_dir = _split_dirs(data, split)
    pairs = pair_files(image_dir, label_dir, data.path.pattern)
    if not pairs:
        raise UserError(f"data.path.{split}.image: no images found in {image_dir}")
    names = classes or info.names or _infer_names(pairs, data)
    return SegmentationDataset(pairs, names, transform, ignore_index=data.ignore_index, palette=info.palette,
                               label_mode=data.label_image_mode)
