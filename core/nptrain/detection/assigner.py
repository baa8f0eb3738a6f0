"""SimOTA label assignment (YOLOX) and anchor-grid helpers.

For each image, anchors near a ground-truth box (centre inside the box or within
``center_radius`` strides of its centre) are candidates. Each (gt, candidate) pair costs
``cls BCE + 3·(−log IoU) + 1e5·[anchor not both inside the box and near its centre]``. Each gt
takes its ``k`` cheapest candidates, where ``k`` (≥ 1) is the sum of its 10 best IoUs — big,
well-predicted objects get more positives. An anchor claimed by several gts keeps the cheapest.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import attrs
import torch
import torch.nn.functional as F

from nptrain.detection.boxes import box_iou

OUTSIDE_COST = 1e5  # dominates any real cost, so outside-centre anchors are only used as a last resort
TOPK_FOR_K = 10


@attrs.frozen
class Assignment:
    """Positives of one image: ``fg_mask (N,)`` over anchors; for the positives in anchor order,
    the matched gt index and the IoU of the prediction with it (the soft class target)."""

    fg_mask: torch.Tensor
    matched_gt: torch.Tensor
    matched_iou: torch.Tensor


def _empty(n: int, device: torch.device) -> Assignment:
    return Assignment(torch.zeros(n, dtype=torch.bool, device=device),
                      torch.zeros(0, dtype=torch.long, device=device), torch.zeros(0, device=device))


@torch.no_grad()
def simota_assign(pred_boxes: torch.Tensor, obj_logits: torch.Tensor, cls_logits: torch.Tensor, anchors: torch.Tensor,
                  gt_boxes: torch.Tensor, gt_classes: torch.Tensor, center_radius: float = 2.5) -> Assignment:
    """``pred_boxes (N, 4)`` xyxy, ``obj_logits (N,)``, ``cls_logits (N, C)``, ``anchors (N, 3)``
    ``[x, y, stride]``, ``gt_boxes (G, 4)`` xyxy, ``gt_classes (G,)``."""
    n = pred_boxes.shape[0]
    if gt_boxes.numel() == 0:
        return _empty(n, pred_boxes.device)
    ax, ay, stride = anchors[:, 0], anchors[:, 1], anchors[:, 2]
    x1, y1, x2, y2 = (gt_boxes[:, i:i + 1] for i in range(4))
    in_box = (ax > x1) & (ax < x2) & (ay > y1) & (ay < y2)  # (G, N)
    radius = center_radius * stride
    in_ctr = ((ax - (x1 + x2) / 2).abs() < radius) & ((ay - (y1 + y2) / 2).abs() < radius)
    cand = (in_box | in_ctr).any(0)
    if not bool(cand.any()):
        return _empty(n, pred_boxes.device)
    cand_idx = cand.nonzero().squeeze(1)
    geometry = (in_box & in_ctr)[:, cand_idx]  # (G, M)
    ious = box_iou(gt_boxes, pred_boxes[cand_idx])  # (G, M)
    # class cost: BCE of sqrt(p_cls · p_obj) against the one-hot gt class, summed over classes,
    # written as "sum of −log(1−p) over all classes, corrected at the gt class" to stay O(G·M)
    p = (cls_logits[cand_idx].float().sigmoid() * obj_logits[cand_idx, None].float().sigmoid()).sqrt()
    log_p = p.clamp(min=1e-12).log().clamp(min=-100)
    log_1mp = (1 - p).clamp(min=1e-12).log().clamp(min=-100)
    neg_all = -log_1mp.sum(1)  # (M,)
    at_gt = (log_p - log_1mp)[:, gt_classes].T  # (G, M)
    cls_cost = neg_all[None, :] - at_gt
    cost = cls_cost + 3.0 * -(ious + 1e-8).log() + OUTSIDE_COST * (~geometry).float()

    k = ious.topk(min(TOPK_FOR_K, ious.shape[1]), dim=1).values.sum(1).int().clamp(min=1)  # (G,)
    rank = cost.argsort(dim=1, stable=True).argsort(dim=1)
    matching = rank < k[:, None]
    shared = matching.sum(0) > 1
    if bool(shared.any()):
        cheapest = cost[:, shared].argmin(0)
        matching[:, shared] = False
        matching[cheapest, shared.nonzero().squeeze(1)] = True
    fg_local = matching.any(0)
    matched_gt = matching[:, fg_local].float().argmax(0)
    matched_iou = ious[matched_gt, fg_local.nonzero().squeeze(1)]
    fg_mask = torch.zeros(n, dtype=torch.bool, device=pred_boxes.device)
    fg_mask[cand_idx[fg_local]] = True
    return Assignment(fg_mask, matched_gt, matched_iou)


def grid_sizes(height: int, width: int, strides: Sequence[int]) -> list[tuple[int, int]]:
    """Map sizes of a chain of stride-2 (k=3, p=1) convs: ``ceil(side / stride)`` per level."""
    return [(math.ceil(height / s), math.ceil(width / s)) for s in strides]


def make_anchors(sizes: Sequence[tuple[int, int]], strides: Sequence[int], device: Optional[torch.device] = None) -> torch.Tensor:
    """``(N, 3)`` anchor centres ``[x, y, stride]`` in the head's order (level, then row-major)."""
    out = []
    for (h, w), s in zip(sizes, strides):
        ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
        xy = torch.stack(((xs.flatten() + 0.5) * s, (ys.flatten() + 0.5) * s), dim=1).float()
        out.append(torch.cat((xy, torch.full((h * w, 1), float(s), device=device)), dim=1))
    return torch.cat(out, dim=0)


def infer_anchors(num_anchors: int, strides: Sequence[int], image_size: Optional[Sequence[int]] = None,
                  device: Optional[torch.device] = None) -> torch.Tensor:
    """Anchor points for an output with ``num_anchors`` rows when the model did not return them:
    from ``image_size (H, W)`` if known, else the square input whose grids add up to ``num_anchors``."""
    if image_size is not None:
        sizes = grid_sizes(int(image_size[0]), int(image_size[1]), strides)
    else:
        side, total = 0, 0
        while total < num_anchors:
            side += 1
            total = sum(math.ceil(side / s) ** 2 for s in strides)
        if total != num_anchors:
            raise ValueError(f"cannot rebuild the anchor grid: {num_anchors} predictions match no square input "
                             f"for strides {list(strides)}; pass targets['image_size'] or set the loss's strides")
        sizes = grid_sizes(side, side, strides)
    if sum(h * w for h, w in sizes) != num_anchors:
        raise ValueError(f"image size {tuple(image_size or ())} with strides {list(strides)} gives "
                         f"{sum(h * w for h, w in sizes)} anchors, the output has {num_anchors}")
    return make_anchors(sizes, strides, device)


def one_hot(classes: torch.Tensor, num_classes: int) -> torch.Tensor:
    return F.one_hot(classes.long(), num_classes).float()
