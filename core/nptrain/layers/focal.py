"""The sigmoid focal loss term (Lin et al., 2017), shared by the classification ``focal_loss`` and the
detection ``retinanet_loss``: BCE scaled by ``(1 - p_t) ** gamma`` so easy examples count little, and
weighted ``alpha`` for positives, ``1 - alpha`` for negatives (no weighting when ``alpha < 0``)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def sigmoid_focal(logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0) -> torch.Tensor:
    """Elementwise focal loss of ``logits`` against targets in [0, 1] of the same shape (no reduction)."""
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss
