"""The built-in tasks' target adapters (``TaskRecord.targets``): a batch's dataset targets → what losses
and metrics receive (the plugin contract, see docs/plugins.md), moved to the training device."""
from __future__ import annotations

from typing import Any


def classification_targets(target: dict[str, Any], device: Any) -> dict[str, Any]:
    """``labels``: ``(B,)`` class indices, or ``(B, C)`` soft labels after mixing."""
    return {"labels": target["label"].to(device, non_blocking=True)}


def segmentation_targets(target: dict[str, Any], device: Any) -> dict[str, Any]:
    """``masks``: ``(B, H, W)`` class ids (``data.ignore_index`` where unlabelled)."""
    return {"masks": target["mask"].to(device, non_blocking=True)}


def detection_targets(target: dict[str, Any], device: Any) -> dict[str, Any]:
    """``boxes``/``classes``: per-image lists (xyxy input pixels), and ``image_size`` (H, W)."""
    # every image of a batch has the same (stacked) size; the loss needs it only to rebuild
    # anchor grids for eval-mode outputs, which carry none
    size = tuple(int(v) for v in target["image_size"][0])
    return {"boxes": [b.to(device, non_blocking=True) for b in target["boxes"]],
            "classes": [c.to(device, non_blocking=True) for c in target["classes"]],
            "image_size": size}
