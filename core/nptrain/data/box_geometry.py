"""How the geometric transforms move detection targets.

A target may hold ``boxes`` (``(N, 4)`` float ``xyxy`` pixels) with ``classes`` (``(N,)`` long), and
``affine`` (``(4,)`` float ``[sx, sy, tx, ty]``: a point of the original image lands at
``x · sx + tx, y · sy + ty``). ``nptrain predict`` seeds ``affine`` with the identity and inverts it
afterwards to draw boxes on the original image, whatever resize/pad the inference pipeline does.

Crops clip boxes to the crop and drop those left mostly outside: an object with less than
:data:`MIN_VISIBLE_FRACTION` of its box inside cannot be recognised from what is left, and a label
for it would teach the model to fire on background.
"""
from __future__ import annotations

from typing import Any

import torch

Target = dict[str, Any]

MIN_VISIBLE_FRACTION = 0.25
MIN_SIDE_PX = 1.0  # thinner slivers are dropped as well: their IoU with any prediction is meaningless


def has_geometry(target: Target) -> bool:
    return "boxes" in target or "affine" in target


def scale(target: Target, sx: float, sy: float) -> Target:
    """Resizing by ``sx`` horizontally and ``sy`` vertically."""
    out = dict(target)
    if "boxes" in out:
        out["boxes"] = out["boxes"] * torch.tensor([sx, sy, sx, sy], dtype=out["boxes"].dtype)
    if "affine" in out:
        out["affine"] = out["affine"] * torch.tensor([sx, sy, sx, sy], dtype=out["affine"].dtype)
    return out


def shift(target: Target, dx: float, dy: float) -> Target:
    """Moving the picture by ``(dx, dy)`` pixels (padding on the left/top, or a crop's offset negated)."""
    out = dict(target)
    if "boxes" in out:
        out["boxes"] = out["boxes"] + torch.tensor([dx, dy, dx, dy], dtype=out["boxes"].dtype)
    if "affine" in out:
        out["affine"] = out["affine"] + torch.tensor([0.0, 0.0, dx, dy], dtype=out["affine"].dtype)
    return out


def crop(target: Target, top: int, left: int, height: int, width: int) -> Target:
    """Keep the window ``[left, left + width) × [top, top + height)``: shift, clip, drop lost boxes."""
    out = shift(target, -left, -top)
    if "boxes" not in out or out["boxes"].numel() == 0:
        return out
    boxes = out["boxes"]
    clipped = torch.stack((boxes[:, 0].clamp(0, width), boxes[:, 1].clamp(0, height),
                           boxes[:, 2].clamp(0, width), boxes[:, 3].clamp(0, height)), dim=1)
    w, h = clipped[:, 2] - clipped[:, 0], clipped[:, 3] - clipped[:, 1]
    full = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).clamp(min=1e-9)
    keep = (w >= MIN_SIDE_PX) & (h >= MIN_SIDE_PX) & (w * h >= MIN_VISIBLE_FRACTION * full)
    out["boxes"] = clipped[keep]
    if "classes" in out:
        out["classes"] = out["classes"][keep]
    return out


def flip(target: Target, dim: int, size: int) -> Target:
    """Mirroring along ``dim`` (-1: left-right, -2: top-bottom) of an image ``size`` pixels across."""
    out = dict(target)
    lo, hi = (0, 2) if dim == -1 else (1, 3)
    if "boxes" in out:
        boxes = out["boxes"].clone()
        boxes[:, lo], boxes[:, hi] = size - out["boxes"][:, hi], size - out["boxes"][:, lo]
        out["boxes"] = boxes
    if "affine" in out:
        # x' = size - (x · s + t): the scale of that axis changes sign, the offset becomes size - t
        axis = 0 if dim == -1 else 1
        affine = out["affine"].clone()
        affine[axis] = -out["affine"][axis]
        affine[2 + axis] = size - out["affine"][2 + axis]
        out["affine"] = affine
    return out


def invert_boxes(boxes: torch.Tensor, affine: torch.Tensor) -> torch.Tensor:
    """Boxes in transformed-image pixels → original-image pixels (``affine`` as tracked above)."""
    sx, sy, tx, ty = (float(v) for v in affine)
    x = (boxes[:, 0::2] - tx) / sx
    y = (boxes[:, 1::2] - ty) / sy
    # a mirrored axis swaps which corner is the smaller one
    return torch.stack((x.min(1).values, y.min(1).values, x.max(1).values, y.max(1).values), dim=1)
