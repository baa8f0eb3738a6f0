"""Box utilities in plain torch (no torchvision): format conversions, pairwise IoU/GIoU, clipping
and greedy class-aware NMS. Boxes are float tensors ``(..., 4)``; ``xyxy`` is ``x1, y1, x2, y2`` in pixels."""
from __future__ import annotations

import math
from typing import Optional

import torch


def xyxy_to_cxcywh(boxes: torch.Tensor) -> torch.Tensor:
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1), dim=-1)


def cxcywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), dim=-1)


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Area of ``xyxy`` boxes; degenerate (inverted) boxes count as 0."""
    return (boxes[..., 2] - boxes[..., 0]).clamp(min=0) * (boxes[..., 3] - boxes[..., 1]).clamp(min=0)


def _inter_union(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return inter, union


def box_iou(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """Pairwise IoU ``(N, M)`` of ``xyxy`` boxes ``a (N, 4)`` and ``b (M, 4)``."""
    inter, union = _inter_union(a, b)
    return inter / union.clamp(min=eps)


def generalized_box_iou(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """Pairwise GIoU ``(N, M)``: IoU minus the share of the enclosing box not covered by the union."""
    inter, union = _inter_union(a, b)
    iou = inter / union.clamp(min=eps)
    lt = torch.minimum(a[:, None, :2], b[None, :, :2])
    rb = torch.maximum(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    enclose = wh[..., 0] * wh[..., 1]
    return iou - (enclose - union) / enclose.clamp(min=eps)


def aligned_box_iou(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """IoU of matching rows ``a[i]`` / ``b[i]`` (``(N, 4)`` each → ``(N,)``); differentiable (for losses)."""
    lt = torch.maximum(a[:, :2], b[:, :2])
    rb = torch.minimum(a[:, 2:], b[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[:, 0] * wh[:, 1]
    union = box_area(a) + box_area(b) - inter
    return inter / union.clamp(min=eps)


def aligned_generalized_box_iou(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """GIoU of matching rows (``(N,)``); differentiable."""
    lt = torch.maximum(a[:, :2], b[:, :2])
    rb = torch.minimum(a[:, 2:], b[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[:, 0] * wh[:, 1]
    union = box_area(a) + box_area(b) - inter
    ewh = (torch.maximum(a[:, 2:], b[:, 2:]) - torch.minimum(a[:, :2], b[:, :2])).clamp(min=0)
    enclose = ewh[:, 0] * ewh[:, 1]
    return inter / union.clamp(min=eps) - (enclose - union) / enclose.clamp(min=eps)


def complete_box_iou(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """CIoU (Zheng et al. 2020) of ``xyxy`` boxes broadcast against each other (``a[..., 4]`` with ``b[..., 4]``;
    pairwise: ``a[:, None]`` with ``b[None]``): IoU minus the squared centre distance over the squared diagonal of
    the enclosing box, minus ``alpha * v`` with ``v`` the aspect-ratio discrepancy. Differentiable."""
    lt = torch.maximum(a[..., :2], b[..., :2])
    rb = torch.minimum(a[..., 2:], b[..., 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    wa, ha = a[..., 2] - a[..., 0], a[..., 3] - a[..., 1]
    wb, hb = b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]
    iou = inter / (wa * ha + wb * hb - inter + eps)
    enclose = torch.maximum(a[..., 2:], b[..., 2:]) - torch.minimum(a[..., :2], b[..., :2])
    diagonal = enclose[..., 0] ** 2 + enclose[..., 1] ** 2 + eps
    centres = ((a[..., 0] + a[..., 2] - b[..., 0] - b[..., 2]) ** 2 +
               (a[..., 1] + a[..., 3] - b[..., 1] - b[..., 3]) ** 2) / 4
    v = (4 / math.pi ** 2) * (torch.atan(wa / (ha + eps)) - torch.atan(wb / (hb + eps))) ** 2
    with torch.no_grad():  # the trade-off weight is a constant of the step (as the paper defines it)
        alpha = v / (1 - iou + v + eps)
    return iou - centres / diagonal - alpha * v


def clip_boxes(boxes: torch.Tensor, height: float, width: float) -> torch.Tensor:
    """Clamp ``xyxy`` boxes to the image ``[0, width] × [0, height]``."""
    x = boxes[..., 0::2].clamp(0, width)
    y = boxes[..., 1::2].clamp(0, height)
    return torch.stack((x[..., 0], y[..., 0], x[..., 1], y[..., 1]), dim=-1)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_thresh: float) -> torch.Tensor:
    """Greedy NMS: indices of kept boxes, highest score first.

    The IoU matrix is computed once; the greedy pass then walks the score order and only looks at
    rows of boxes still alive, so the Python loop runs once per *kept* box, not per candidate.
    A box is suppressed when its IoU with a higher-scored kept box is strictly greater than ``iou_thresh``.
    """
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    order = scores.argsort(descending=True, stable=True)
    iou = box_iou(boxes[order], boxes[order])
    n = order.numel()
    alive = torch.ones(n, dtype=torch.bool, device=boxes.device)
    later = torch.ones(n, n, dtype=torch.bool, device=boxes.device).triu(1)  # only suppress lower-scored boxes
    suppress = (iou > iou_thresh) & later
    keep: list[int] = []
    i = 0
    while i < n:
        keep.append(i)
        alive &= ~suppress[i]
        rest = alive[i + 1:].nonzero()
        if rest.numel() == 0:
            break
        i = i + 1 + int(rest[0])
    return order[torch.tensor(keep, dtype=torch.long, device=boxes.device)]


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor, iou_thresh: float,
                max_coordinate: Optional[float] = None) -> torch.Tensor:
    """Class-aware NMS: boxes of different classes never suppress each other.

    Each class is shifted by ``class * (max_coordinate + 1)`` along both axes, so boxes of two
    classes can never overlap and one NMS pass handles every class at once.
    """
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    span = float(boxes.max()) if max_coordinate is None else float(max_coordinate)
    # shift relative to the smallest coordinate too, so negative boxes cannot reach the next class
    low = float(boxes.min())
    offsets = classes.to(boxes.dtype) * (span - min(low, 0.0) + 1.0)
    return nms(boxes + offsets[:, None], scores, iou_thresh)
