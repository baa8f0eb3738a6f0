"""``yolov9_loss``: YOLOv9's task-aligned assignment, class BCE, CIoU and distribution focal loss (as the original
and NetsPresso Trainer 1.4.1 train ``yolo_detection_head``).

Assignment, per image (every quantity from detached predictions):

1. a location is a candidate for a box when its centre lies strictly inside it;
2. alignment ``t = IoU^iou_factor * p^cls_factor`` with ``IoU`` the CIoU of the box with the location's predicted
   box (clamped to [0, 1]) and ``p`` the predicted probability of the box's class; each box keeps its ``topk``
   candidates of highest ``t`` (only those with ``t > 0``);
3. a location kept by several boxes goes to the box its prediction overlaps most;
4. the class target of an assigned location is ``t / max t * max IoU`` (both maxima over that box's locations).

Losses, summed over the batch and divided by the sum of the class targets (at least 1): BCE on every location's
class logits; ``1 - CIoU`` of assigned locations, weighted by their class target; DFL on their side bins (the two
bins around the target distance, in strides, weighted by closeness; the target clamped below ``reg_max - 1``),
averaged over the sides and weighted the same. Total ``cls_weight * BCE + iou_weight * CIoU + dfl_weight * DFL``.

The eval-mode output (decoded boxes, no bins) gives the class and box terms only: the validation loss has no DFL
term (its anchors are rebuilt for strides 8/16/32 from ``targets['image_size']``)."""
from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

from nptrain.detection.assigner import infer_anchors
from nptrain.detection.boxes import complete_box_iou, cxcywh_to_xyxy

from np_plugin_yolov9.params import YOLOv9LossParams

EVAL_STRIDES = (8, 16, 32)


def assign(gt_boxes: torch.Tensor, gt_classes: torch.Tensor, pred_boxes: torch.Tensor, cls_prob: torch.Tensor,
           anchors: torch.Tensor, p: YOLOv9LossParams) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One image: ``(assigned (N,) bool, box index per location (N,), class target (N, C))`` for boxes
    ``gt_boxes (G, 4)`` xyxy, predictions ``pred_boxes (N, 4)`` xyxy and ``cls_prob (N, C)``, centres
    ``anchors (N, ≥2)``."""
    n, num_classes = cls_prob.shape
    x, y = anchors[:, 0], anchors[:, 1]
    inside = ((gt_boxes[:, None, 0] < x) & (x < gt_boxes[:, None, 2]) &
              (gt_boxes[:, None, 1] < y) & (y < gt_boxes[:, None, 3]))  # (G, N)
    iou = complete_box_iou(gt_boxes[:, None], pred_boxes[None]).clamp(0, 1)  # (G, N)
    prob = cls_prob[:, gt_classes.long()].T  # (G, N): each box's class probability at each location
    align = inside * iou.pow(p.iou_factor) * prob.pow(p.cls_factor)
    values, index = align.topk(min(p.topk, n), dim=1)
    kept = torch.zeros_like(align).scatter_(1, index, values) > 0  # (G, N)
    several = kept.sum(0) > 1
    best_iou_box = iou.argmax(0)
    kept[:, several] = F.one_hot(best_iou_box[several], kept.shape[0]).T.bool()
    assigned = kept.any(0)
    box_index = kept.float().argmax(0)
    align, iou = align * kept, iou * kept
    scale = align / (align.amax(dim=1, keepdim=True) + 1e-9) * iou.amax(dim=1, keepdim=True)  # (G, N)
    weight = scale.gather(0, box_index[None]).squeeze(0) * assigned
    target = F.one_hot(gt_classes.long()[box_index], num_classes).float() * weight[:, None]
    return assigned, box_index, target


def dfl(bins: torch.Tensor, target: torch.Tensor, reg_max: int) -> torch.Tensor:
    """Distribution focal loss per location: ``bins (K, 4, R)`` logits, ``target (K, 4)`` distances in strides →
    ``(K,)`` mean over the sides of the cross entropy with the two neighbouring bins, weighted by closeness."""
    t = target.clamp(0, reg_max - 1.01)
    left = t.floor()
    w_left, w_right = left + 1 - t, t - left
    logits = bins.reshape(-1, reg_max)
    ce_left = F.cross_entropy(logits, left.long().reshape(-1), reduction="none")
    ce_right = F.cross_entropy(logits, (left.long() + 1).reshape(-1), reduction="none")
    return (ce_left * w_left.reshape(-1) + ce_right * w_right.reshape(-1)).view(-1, 4).mean(dim=1)


class YOLOv9Loss(nn.Module):
    def __init__(self, params: YOLOv9LossParams) -> None:
        super().__init__()
        self.params = params
        self.last: dict[str, float] = {}

    def _parts(self, outputs: Any, targets: dict):
        """``(pred (B, N, 5+C), cls logits (B, N, C), bins (B, N, 4, R) or None, anchors (N, 3))``."""
        if isinstance(outputs, dict) and "bins" in outputs:
            return (outputs["pred"].float(), outputs["cls_logits"].float(), outputs["bins"].float(),
                    outputs["anchors"].float())
        pred = (outputs["pred"] if isinstance(outputs, dict) else outputs).float()
        anchors = infer_anchors(pred.shape[1], EVAL_STRIDES, targets.get("image_size"), pred.device)
        return pred, pred[..., 5:], None, anchors

    def forward(self, outputs: Any, targets: dict) -> torch.Tensor:
        p = self.params
        pred, cls, bins, anchors = self._parts(outputs, targets)
        if bins is not None and bins.shape[-1] != p.reg_max:
            raise ValueError(f"yolov9_loss: reg_max {p.reg_max} but the head predicts {bins.shape[-1]} bins per side: "
                             "give the loss the head's reg_max")
        boxes = cxcywh_to_xyxy(pred[..., :4])
        stride = anchors[:, 2:3]
        bce, box, dist, norm = pred.new_zeros(()), pred.new_zeros(()), pred.new_zeros(()), pred.new_zeros(())
        for b in range(pred.shape[0]):
            gts = targets["boxes"][b].to(pred.device, torch.float32).reshape(-1, 4)
            labels = targets["classes"][b].to(pred.device).reshape(-1).long()
            target = torch.zeros_like(cls[b])
            if len(gts):
                assigned, index, target = assign(gts, labels, boxes[b].detach(), cls[b].detach().sigmoid(),
                                                 anchors, p)
                if assigned.any():
                    weight = target[assigned].sum(dim=1)
                    matched = gts[index[assigned]]
                    ciou = complete_box_iou(boxes[b][assigned], matched)
                    box = box + ((1.0 - ciou) * weight).sum()
                    if bins is not None:
                        centre = anchors[assigned, :2]
                        sides = torch.cat((centre - matched[:, :2], matched[:, 2:] - centre), dim=1)
                        dist = dist + (dfl(bins[b][assigned], sides / stride[assigned], p.reg_max) * weight).sum()
            bce = bce + F.binary_cross_entropy_with_logits(cls[b], target, reduction="sum")
            norm = norm + target.sum()
        norm = norm.clamp(min=1.0)
        loss_cls, loss_iou, loss_dfl = bce / norm, box / norm, dist / norm
        self.last = {"cls": float(loss_cls.detach()), "iou": float(loss_iou.detach()),
                     "dfl": float(loss_dfl.detach())}
        total = p.cls_weight * loss_cls + p.iou_weight * loss_iou + p.dfl_weight * loss_dfl
        if bins is not None:
            total = total + bins.sum() * 0.0 + pred[..., :4].sum() * 0.0  # every output in the graph (DDP)
        return total


def build(params: Optional[YOLOv9LossParams]) -> YOLOv9Loss:
    return YOLOv9Loss(params or YOLOv9LossParams())
