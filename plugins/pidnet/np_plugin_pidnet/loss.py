"""``pidnet_loss``: PIDNet's training objective (XuJiacong/PIDNet utils/criterion.py + FullModel).

The data pipeline gives only ``{"masks": (B, H, W)}``; the boundary target the D head learns is
derived here from label changes in the mask (torch only), where the original precomputes it with
OpenCV's Canny + dilation in the dataset. All outputs are resized to the mask size first.
"""
from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

from np_plugin_pidnet.params import PIDNetLossParams


def edge_targets(masks: torch.Tensor, radius: int = 1) -> torch.Tensor:
    """Float (B, H, W) map: 1 at pixels whose label differs from a 4-neighbour, widened by ``radius``.

    Both sides of a label change are marked (unlike Canny's one-pixel line), so ``radius=1`` gives
    a band about 4 px wide like the original's 4x4 dilation of Canny edges. Changes to and from
    ``ignore_index`` count as edges, as they do for Canny on the raw label image.
    """
    m = masks.unsqueeze(1)
    edge = torch.zeros_like(m, dtype=torch.bool)
    dx = m[..., :, 1:] != m[..., :, :-1]
    dy = m[..., 1:, :] != m[..., :-1, :]
    edge[..., :, 1:] |= dx
    edge[..., :, :-1] |= dx
    edge[..., 1:, :] |= dy
    edge[..., :-1, :] |= dy
    out = edge.float()
    if radius > 0:
        out = F.max_pool2d(out, 2 * radius + 1, stride=1, padding=radius)
    return out.squeeze(1)


def balanced_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BCE where edge pixels weigh (#non-edge / #all) and the rest (#edge / #all): the rare class
    is not drowned out (the original ``weighted_bce``)."""
    logits, target = logits.reshape(-1), target.reshape(-1)
    pos = target == 1
    n_pos = pos.sum()
    total = target.numel()
    weight = torch.where(pos, (total - n_pos) / total, n_pos / total).to(logits.dtype)
    return F.binary_cross_entropy_with_logits(logits, target, weight, reduction="mean")


class PIDNetLoss(nn.Module):
    """Weighted sum of the four PIDNet terms (see :class:`PIDNetLossParams`).

    ``outputs`` is the training-mode dict ``{"pred", "extra_p", "extra_d"}``; a plain tensor (eval
    mode, or ``augment: false``) gets only the OHEM term on the main head.
    """

    def __init__(self, params: PIDNetLossParams) -> None:
        super().__init__()
        self.p = params

    def ohem_ce(self, logits: torch.Tensor, target: torch.Tensor,
                log_probs: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Online hard example mining CE: mean loss over the valid pixels whose true-class
        probability is below max(ohem_thresh, the ohem_min_kept-th smallest probability).

        ``log_probs``: ``log_softmax(logits, 1)`` when the caller already has it (the main head is
        mined twice per step). Cross-entropy and the mined probability both come from the one
        log-softmax, and the threshold from a selection rather than a sort of every pixel: at 512x512
        that sort and a second softmax were a visible share of PIDNet's step."""
        valid = target != self.p.ignore_index
        if not bool(valid.any()):
            return logits.sum() * 0.0  # nothing to learn from; keeps the graph connected
        if log_probs is None:
            log_probs = F.log_softmax(logits, dim=1)
        index = torch.where(valid, target, torch.zeros_like(target))  # any class id: ignored pixels drop out below
        true_log_prob = log_probs.gather(1, index.unsqueeze(1)).reshape(-1)[valid.reshape(-1)]
        with torch.no_grad():
            prob = true_log_prob.exp()
            kth = prob.kthvalue(min(self.p.ohem_min_kept, prob.numel() - 1) + 1).values
            keep = prob < torch.clamp(kth, min=self.p.ohem_thresh)
        kept = -true_log_prob[keep]
        return kept.sum() / max(int(kept.numel()), 1)

    def plain_ce(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # averaged over all pixels, ignored ones counting as 0: the original reduces the per-pixel
        # map of its aux term with a plain .mean()
        return F.cross_entropy(logits, target, ignore_index=self.p.ignore_index, reduction="none").mean()

    def forward(self, outputs: Any, targets: dict) -> torch.Tensor:
        masks = targets["masks"].long()
        size = masks.shape[-2:]

        def fit(t: torch.Tensor) -> torch.Tensor:
            return t if t.shape[-2:] == size else F.interpolate(t, size=size, mode="bilinear", align_corners=False)

        if not isinstance(outputs, dict):
            return self.p.main_weight * self.ohem_ce(fit(outputs), masks)
        main, aux_p, aux_d = fit(outputs["pred"]), fit(outputs["extra_p"]), fit(outputs["extra_d"])
        aux = self.ohem_ce(aux_p, masks) if self.p.aux_ohem else self.plain_ce(aux_p, masks)
        main_log_probs = F.log_softmax(main, dim=1)  # shared by both mined terms below
        loss = self.p.aux_weight * aux + self.p.main_weight * self.ohem_ce(main, masks, main_log_probs)
        loss = loss + self.p.boundary_weight * balanced_bce(aux_d[:, 0], edge_targets(masks, self.p.edge_radius))
        # boundary-aware CE: supervise the main head only where D is confident there is an edge
        on_edge = torch.sigmoid(aux_d[:, 0].detach()) > self.p.boundary_threshold
        edge_labels = torch.where(on_edge, masks, torch.full_like(masks, self.p.ignore_index))
        return loss + self.p.boundary_aware_weight * self.ohem_ce(main, edge_labels, main_log_probs)


def build(params: Optional[PIDNetLossParams]) -> PIDNetLoss:
    return PIDNetLoss(params or PIDNetLossParams())
