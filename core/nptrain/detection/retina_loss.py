"""``retinanet_loss``: IoU matching of anchors to boxes, sigmoid focal loss on the classes, L1 on the box deltas
(torchvision's RetinaNet, as NetsPresso Trainer trains its ``anchor_decoupled_head``).

Matching, per image: each anchor takes the box it overlaps most; at or above ``fg_iou_thresh`` it is that box's,
below ``bg_iou_thresh`` background, in between ignored (left out of the class loss). Then every box also claims
the anchors it overlaps best (its "low-quality" matches), so a box no anchor covers well still trains one.
torchvision does the latter even for a box that overlaps no anchor at all (best IoU 0), which turns every
anchor into a positive; here such a box claims none.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nptrain.builtin.detection_params import RetinaNetLossParams
from nptrain.detection.anchors import cell_anchors, encode, grid_anchors, infer_strides
from nptrain.detection.assigner import grid_sizes
from nptrain.detection.boxes import box_iou, cxcywh_to_xyxy
from nptrain.layers.focal import sigmoid_focal

BACKGROUND, IGNORED = -1, -2


def match_anchors(iou: torch.Tensor, fg_thresh: float, bg_thresh: float) -> torch.Tensor:
    """``iou (G, N)`` → per anchor the index of its box, ``-1`` background or ``-2`` ignored."""
    if iou.numel() == 0:
        return torch.full((iou.shape[1],), BACKGROUND, dtype=torch.long, device=iou.device)
    best, matches = iou.max(dim=0)
    out = matches.clone()
    out[best < bg_thresh] = BACKGROUND
    out[(best >= bg_thresh) & (best < fg_thresh)] = IGNORED
    best_per_box = iou.max(dim=1).values
    _, anchor_idx = torch.where((iou == best_per_box[:, None]) & (best_per_box[:, None] > 0))
    out[anchor_idx] = matches[anchor_idx]  # torchvision restores the anchor's own best box, not the claiming one
    return out


class RetinaNetLoss(nn.Module):
    def __init__(self, params: RetinaNetLossParams) -> None:
        super().__init__()
        self.params = params
        self.cells = [cell_anchors(s, params.aspect_ratios) for s in params.anchor_sizes]
        self.checked: set[tuple] = set()
        self.last: dict[str, float] = {}

    def anchors(self, num_rows: int, image_size: Sequence[int], device: torch.device) -> torch.Tensor:
        """The ``(num_rows, 4)`` xyxy anchors of this loss's geometry over an ``image_size`` input."""
        strides = infer_strides(num_rows, image_size, len(self.cells), len(self.cells[0]))
        return torch.cat([grid_anchors(h, w, s, c.to(device))
                          for (h, w), s, c in zip(grid_sizes(int(image_size[0]), int(image_size[1]), strides),
                                                  strides, self.cells)])

    def _check_geometry(self, anchors: torch.Tensor, image_size: Optional[Sequence[int]]) -> None:
        """Once per input size: the head's anchors are the ones this loss would rebuild for a validation
        loss (else that loss would silently match against other anchors)."""
        if image_size is None:
            return
        key = (tuple(int(v) for v in image_size), anchors.shape[0])
        if key in self.checked:
            return
        try:
            ours = self.anchors(anchors.shape[0], image_size, anchors.device)
            same = torch.equal(ours, anchors.float())
        except ValueError:
            same = False
        if not same:
            raise ValueError("retinanet_loss: the head's anchors are not those of the loss's anchor_sizes / "
                             f"aspect_ratios ({self.params.anchor_sizes}, {self.params.aspect_ratios}): give the "
                             "loss the head's values (they rebuild the anchors for the validation loss)")
        self.checked.add(key)

    def _parts(self, outputs: Any, targets: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(cls_logits (B, N, C), deltas (B, N, 4), anchors (N, 4))`` from either output form."""
        image_size = targets.get("image_size")
        if isinstance(outputs, dict) and "anchors" in outputs:
            anchors = outputs["anchors"].float()
            self._check_geometry(anchors, image_size)
            return outputs["cls_logits"].float(), outputs["bbox_regression"].float(), anchors
        pred = (outputs["pred"] if isinstance(outputs, dict) else outputs).float()
        if image_size is None:
            raise ValueError("retinanet_loss on decoded outputs needs targets['image_size'] to rebuild the anchors")
        anchors = self.anchors(pred.shape[1], image_size, pred.device)
        boxes = cxcywh_to_xyxy(pred[..., :4])
        deltas = torch.stack([encode(b, anchors) for b in boxes])
        return pred[..., 5:], deltas, anchors

    def forward(self, outputs: Any, targets: dict) -> torch.Tensor:
        p = self.params
        cls, deltas, anchors = self._parts(outputs, targets)
        batch = cls.shape[0]
        cls_losses, box_losses, positives = [], [], 0
        for b in range(batch):
            gts = targets["boxes"][b].to(cls.device, torch.float32).reshape(-1, 4)
            labels = targets["classes"][b].to(cls.device).reshape(-1).long()
            matched = match_anchors(box_iou(gts, anchors), p.fg_iou_thresh, p.bg_iou_thresh)
            fg = matched >= 0
            num_fg = int(fg.sum())
            positives += num_fg
            target = torch.zeros_like(cls[b])
            target[fg, labels[matched[fg]]] = 1.0
            valid = matched != IGNORED
            focal = sigmoid_focal(cls[b][valid], target[valid], p.alpha, p.gamma).sum()
            cls_losses.append(focal / max(1, num_fg))
            if num_fg:
                wanted = encode(gts[matched[fg]], anchors[fg])
                box_losses.append(F.l1_loss(deltas[b][fg], wanted, reduction="sum") / num_fg)
            else:
                box_losses.append(deltas[b].sum() * 0.0)  # keeps the graph (DDP) without a term
        loss_cls = torch.stack(cls_losses).mean()
        loss_box = torch.stack(box_losses).mean()
        self.last = {"cls": float(loss_cls.detach()), "box": float(loss_box.detach()),
                     "num_fg": positives / max(batch, 1)}
        return p.cls_weight * loss_cls + p.box_weight * loss_box


def build(params: Optional[RetinaNetLossParams]) -> RetinaNetLoss:
    return RetinaNetLoss(params or RetinaNetLossParams())
