"""Anchor boxes of anchor-based heads (RetinaNet's ``anchor_decoupled_head``) and the box coding between
them and the regressed deltas.

Conventions are torchvision's RetinaNet, which NetsPresso Trainer's head follows, so that weights trained
there decode to the same boxes here: each level's cell anchors are zero-centred ``(A, 4)`` boxes, one per
(aspect ratio, size) pair with ``aspect = h / w``, rounded to whole pixels; the anchors of a location sit on the
cell's top-left corner ``(col * stride, row * stride)``, rows ordered (y, x, anchor); deltas ``(dx, dy, dw, dh)``
are ``BoxCoder(weights=(1, 1, 1, 1))``: centre offsets in anchor widths, log size ratios, ``dw``/``dh`` clamped at
``log(1000 / 16)`` before the exponential.

One difference, on purpose: the stride of a level is the stride of its feature map. NetsPresso Trainer 1.4.1 takes
``512 // feature size`` (a hard-coded image size), so its anchors fit only 512-pixel inputs.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from nptrain.detection.assigner import grid_sizes

DELTA_CLAMP = math.log(1000.0 / 16)


def cell_anchors(sizes: Sequence[float], aspect_ratios: Sequence[float]) -> torch.Tensor:
    """``(len(aspect_ratios) * len(sizes), 4)`` zero-centred xyxy boxes, ratio-major as torchvision orders them."""
    scales = torch.as_tensor(list(sizes), dtype=torch.float32)
    ratios = torch.as_tensor(list(aspect_ratios), dtype=torch.float32)
    h_ratios = torch.sqrt(ratios)
    w_ratios = 1 / h_ratios
    ws = (w_ratios[:, None] * scales[None, :]).reshape(-1)
    hs = (h_ratios[:, None] * scales[None, :]).reshape(-1)
    return (torch.stack([-ws, -hs, ws, hs], dim=1) / 2).round()


def grid_anchors(height: int, width: int, stride: float, cells: torch.Tensor) -> torch.Tensor:
    """``(height * width * A, 4)`` xyxy anchors of one level, rows ordered (y, x, anchor)."""
    ys = torch.arange(height, dtype=torch.float32, device=cells.device) * stride
    xs = torch.arange(width, dtype=torch.float32, device=cells.device) * stride
    sy, sx = torch.meshgrid(ys, xs, indexing="ij")
    shifts = torch.stack((sx, sy, sx, sy), dim=-1).reshape(-1, 1, 4)
    return (shifts + cells.reshape(1, -1, 4)).reshape(-1, 4)


def infer_strides(num_rows: int, image_size: Sequence[int], levels: int, per_location: int) -> list[int]:
    """The doubling strides ``s, 2s, …`` (``levels`` of them) whose anchors over ``image_size`` number
    ``num_rows``; a ValueError when no power-of-two first stride fits."""
    for k in range(0, 8):
        strides = [2 ** (k + i) for i in range(levels)]
        sizes = grid_sizes(int(image_size[0]), int(image_size[1]), strides)
        if per_location * sum(h * w for h, w in sizes) == num_rows:
            return strides
    raise ValueError(f"{num_rows} predictions fit no pyramid of {levels} levels with {per_location} anchors per "
                     f"location over a {tuple(image_size)} input: the loss's anchor_sizes / aspect_ratios must be "
                     f"the head's")


def encode(boxes: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """xyxy ``boxes`` against xyxy ``anchors`` (same rows) → deltas ``(dx, dy, dw, dh)``."""
    aw, ah = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    ax, ay = anchors[:, 0] + 0.5 * aw, anchors[:, 1] + 0.5 * ah
    bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    bx, by = boxes[:, 0] + 0.5 * bw, boxes[:, 1] + 0.5 * bh
    return torch.stack(((bx - ax) / aw, (by - ay) / ah, torch.log(bw / aw), torch.log(bh / ah)), dim=1)


def decode_cxcywh(deltas: torch.Tensor, centre_x: torch.Tensor, centre_y: torch.Tensor, width: torch.Tensor,
                  height: torch.Tensor) -> torch.Tensor:
    """Deltas ``(..., 4)`` against anchors given by centre and size (broadcastable to ``deltas[..., 0]``)
    → boxes ``(..., 4)`` as ``cx, cy, w, h``."""
    cx = deltas[..., 0] * width + centre_x
    cy = deltas[..., 1] * height + centre_y
    w = torch.exp(deltas[..., 2].clamp(max=DELTA_CLAMP)) * width
    h = torch.exp(deltas[..., 3].clamp(max=DELTA_CLAMP)) * height
    return torch.stack((cx, cy, w, h), dim=-1)
