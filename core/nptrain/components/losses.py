"""Built-in losses: classification and segmentation cross entropy, classification focal loss."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nptrain.builtin.params import CrossEntropyParams, FocalLossParams, SegCrossEntropyParams
from nptrain.layers.focal import sigmoid_focal


def _pred(outputs):
    return outputs["pred"] if isinstance(outputs, dict) else outputs


class CrossEntropy(nn.Module):
    """Accepts class indices ``(B,)`` or soft targets ``(B, C)`` (mixup/cutmix)."""

    def __init__(self, params: CrossEntropyParams) -> None:
        super().__init__()
        self.label_smoothing = params.label_smoothing

    def forward(self, outputs, targets) -> torch.Tensor:
        return F.cross_entropy(_pred(outputs), targets["labels"], label_smoothing=self.label_smoothing)


class FocalLoss(nn.Module):
    """Class indices ``(B,)`` become one-hot targets; soft targets ``(B, C)`` (mixup/cutmix) are used as they are."""

    def __init__(self, params: FocalLossParams) -> None:
        super().__init__()
        self.alpha, self.gamma = params.alpha, params.gamma

    def forward(self, outputs, targets) -> torch.Tensor:
        logits, labels = _pred(outputs).float(), targets["labels"]
        if labels.dim() == 1:
            labels = F.one_hot(labels.long(), logits.shape[-1]).to(logits.dtype)
        return sigmoid_focal(logits, labels.to(logits.dtype), self.alpha, self.gamma).mean()


class SegCrossEntropy(nn.Module):
    def __init__(self, params: SegCrossEntropyParams) -> None:
        super().__init__()
        self.ignore_index = params.ignore_index
        self.label_smoothing = params.label_smoothing
        weights = torch.tensor(params.class_weights, dtype=torch.float32) if params.class_weights else None
        self.register_buffer("class_weights", weights, persistent=False)

    def forward(self, outputs, targets) -> torch.Tensor:
        logits, masks = _pred(outputs), targets["masks"]
        if logits.shape[-2:] != masks.shape[-2:]:
            logits = F.interpolate(logits, size=masks.shape[-2:], mode="bilinear", align_corners=False)
        return F.cross_entropy(logits, masks, weight=self.class_weights, ignore_index=self.ignore_index,
                               label_smoothing=self.label_smoothing)


def build_cross_entropy(params: CrossEntropyParams) -> CrossEntropy:
    return CrossEntropy(params)


def build_seg_cross_entropy(params: SegCrossEntropyParams) -> SegCrossEntropy:
    return SegCrossEntropy(params)


def build_focal_loss(params: FocalLossParams) -> FocalLoss:
    return FocalLoss(params)
