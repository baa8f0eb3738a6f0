"""Class colours for segmentation pictures: the dataset's own palette wherever it has one, so a
prediction shows in the colours of the masks the user drew or downloaded."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

Color = tuple[int, int, int]


def class_colors(n: int, palette: Optional[Sequence[Sequence[int]]] = None) -> list[Color]:
    """``palette`` when it covers ``n`` classes, else distinct colours from the id's bits (the
    well-known VOC construction: class 0 is black, neighbouring ids differ strongly)."""
    if palette and len(palette) >= n:
        return [(int(c[0]), int(c[1]), int(c[2])) for c in palette[:n]]
    colors = []
    for i in range(n):
        r = g = b = 0
        cid = i
        for shift in range(7, -1, -1):
            r |= ((cid >> 0) & 1) << shift
            g |= ((cid >> 1) & 1) << shift
            b |= ((cid >> 2) & 1) << shift
            cid >>= 3
        colors.append((r, g, b))
    return colors


def mask_file_palette(path: Path, n: int) -> Optional[list[Color]]:
    """The first ``n`` colours of a palette (mode P) mask PNG; None for any other file."""
    # lazy: PIL
    from PIL import Image

    try:
        with Image.open(path) as img:
            if img.mode != "P":
                return None
            flat = img.getpalette() or []
    except Exception:  # noqa: BLE001 - any unreadable file just means no palette from it
        return None
    if len(flat) < 3 * n:
        return None
    colors = [(flat[3 * i], flat[3 * i + 1], flat[3 * i + 2]) for i in range(n)]
    return colors if len(set(colors)) == n else None  # a grey ramp or repeated entries says nothing


def dataset_palette(loaded: Any, n: int, mask_files: Sequence[Path] = ()) -> list[Color]:
    """``data.pallete`` (or the colours of a ``{colour: name}`` id_mapping), else the palette stored
    in the dataset's palette-PNG masks (``mask_files``, or the first mask of the valid/train label
    folder), else :func:`class_colors`' defaults."""
    # lazy: torch
    from nptrain.data.segmentation import resolve_seg_classes

    try:
        configured = resolve_seg_classes(loaded.run.data).palette
    except Exception:  # noqa: BLE001 - a config problem is reported elsewhere; colours fall back
        configured = None
    if configured and len(configured) >= n:
        return class_colors(n, configured)
    for path in list(mask_files)[:1] or _first_masks(loaded):
        found = mask_file_palette(path, n)
        if found:
            return found
    return class_colors(n)


def _first_masks(loaded: Any) -> list[Path]:
    # lazy: torch
    from nptrain.data.datasets import _resolve, list_images

    out = []
    for split in ("valid", "train"):
        spec = getattr(loaded.run.data.path, split, None)
        label = getattr(spec, "label", None) if spec is not None else None
        if not label:
            continue
        folder = _resolve(label, loaded.run.data.path.root)
        if folder.is_dir():
            masks = list_images(folder)
            if masks:
                out.append(masks[0])
    return out
