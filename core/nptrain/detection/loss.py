"""``yolox_loss``: SimOTA-assigned YOLOX loss on the decoupled head's decoded output.

Per batch (all sums divided by the number of positives, at least 1):
``iou_weight · Σ IoU loss(pos boxes) + obj_weight · Σ BCE(obj, pos mask) over every anchor
+ cls_weight · Σ BCE(cls of pos, one-hot × IoU) [+ l1_weight · Σ |raw offsets − encoded gt|]``.
The IoU-aware class target makes the class score double as a localisation-quality estimate.
"""
from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

from nptrain.builtin.detection_params import YOLOXLossParams
from nptrain.detection.assigner import infer_anchors, one_hot, simota_assign
from nptrain.detection.boxes import aligned_box_iou, aligned_generalized_box_iou, cxcywh_to_xyxy, xyxy_to_cxcywh


def _split_output(outputs: Any) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    if isinstance(outputs, dict):
        return outputs["pred"], outputs.get("anchors")
    return outputs, None


def _encode(cxcywh: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Boxes in pixels → the head's raw offsets (inverse of its decoding). ``anchors`` are cell
    centres; the head decodes from the cell corner, half a stride before them (YOLOX's grid)."""
    s = anchors[:, 2:3]
    xy = (cxcywh[:, :2] - anchors[:, :2]) / s + 0.5
    wh = (cxcywh[:, 2:] / s).clamp(min=1e-8).log()
    return torch.cat((xy, wh), dim=1)


class YOLOXLoss(nn.Module):
    def __init__(self, params: YOLOXLossParams) -> None:
        super().__init__()
        self.params = params
        self.epoch = 0
        self.last: dict[str, float] = {}

    def set_epoch(self, epoch: int) -> None:
        """Called by the trainer at each epoch start; turns L1 on at ``l1_activate_epoch``."""
        self.epoch = int(epoch)

    @property
    def l1_active(self) -> bool:
        p = self.params
        return p.use_l1 or (p.l1_activate_epoch is not None and self.epoch >= p.l1_activate_epoch)

    def forward(self, outputs, targets: dict) -> torch.Tensor:
        p = self.params
        pred, anchors = _split_output(outputs)
        pred = pred.float()  # the assignment and BCE sums are not safe in half precision
        batch, n, width = pred.shape
        num_classes = width - 5
        if anchors is None:
            anchors = infer_anchors(n, p.strides, targets.get("image_size"), pred.device)
        anchors = anchors.to(pred.device, torch.float32)
        boxes = cxcywh_to_xyxy(pred[..., :4])
        obj, cls = pred[..., 4], pred[..., 5:]

        obj_target = torch.zeros_like(obj)
        fg_idx, gt_box, cls_target = [], [], []
        for b in range(batch):
            gts = targets["boxes"][b].to(pred.device, torch.float32).reshape(-1, 4)
            gcls = targets["classes"][b].to(pred.device).reshape(-1).long()
            a = simota_assign(boxes[b].detach(), obj[b].detach(), cls[b].detach(), anchors, gts, gcls, p.center_radius)
            obj_target[b] = a.fg_mask.float()
            idx = a.fg_mask.nonzero().squeeze(1)
            fg_idx.append(idx + b * n)
            gt_box.append(gts[a.matched_gt])
            cls_target.append(one_hot(gcls[a.matched_gt], num_classes) * a.matched_iou[:, None])
        idx = torch.cat(fg_idx)
        gt_box = torch.cat(gt_box)
        num_fg = max(int(idx.numel()), 1)

        flat = pred.reshape(-1, width)
        pos_boxes = cxcywh_to_xyxy(flat[idx, :4])
        if p.iou_loss == "giou":
            loss_iou = (1 - aligned_generalized_box_iou(pos_boxes, gt_box)).sum() / num_fg
        else:
            loss_iou = (1 - aligned_box_iou(pos_boxes, gt_box) ** 2).sum() / num_fg
        loss_obj = F.binary_cross_entropy_with_logits(obj, obj_target, reduction="sum") / num_fg
        loss_cls = F.binary_cross_entropy_with_logits(flat[idx, 5:], torch.cat(cls_target), reduction="sum") / num_fg
        total = p.iou_weight * loss_iou + p.obj_weight * loss_obj + p.cls_weight * loss_cls
        parts = {"iou": float(loss_iou.detach()), "obj": float(loss_obj.detach()), "cls": float(loss_cls.detach())}
        if self.l1_active:
            pos_anchors = anchors[idx % n]
            loss_l1 = F.l1_loss(_encode(flat[idx, :4], pos_anchors), _encode(xyxy_to_cxcywh(gt_box), pos_anchors),
                                reduction="sum") / num_fg
            total = total + p.l1_weight * loss_l1
            parts["l1"] = float(loss_l1.detach())
        parts["num_fg"] = float(idx.numel()) / max(batch, 1)
        self.last = parts
        return total


def build(params: Optional[YOLOXLossParams]) -> YOLOXLoss:
    return YOLOXLoss(params or YOLOXLossParams())
