"""Post-processing outside the model: score = sigmoid(obj) · sigmoid(best class), score threshold,
top-k before NMS, class-aware NMS, at most ``max_detections`` per image.

Defaults suit mAP evaluation (low ``score_thresh`` so the precision-recall curve is complete);
for showing predictions raise ``score_thresh`` to about 0.25-0.5.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import attrs
import torch

from nptrain.config.model_section import PostprocessorParams
from nptrain.detection.boxes import batched_nms, clip_boxes, cxcywh_to_xyxy


@attrs.frozen
class Detections:
    """One image's detections, highest score first: ``boxes (K, 4)`` xyxy pixels, ``scores (K,)``,
    ``classes (K,)`` long."""

    boxes: torch.Tensor
    scores: torch.Tensor
    classes: torch.Tensor

    def __len__(self) -> int:
        return int(self.scores.numel())


@attrs.frozen(kw_only=True)
class PostProcessConfig:
    score_thresh: float = 0.01
    iou_thresh: float = 0.65
    max_detections: int = 100
    pre_nms_topk: int = 1000  # bounds the NMS cost on a barely-trained model where everything scores
    class_agnostic: bool = False  # one NMS over all classes instead of one per class


def postprocess_config(loaded: Any, score_thresh: Optional[float] = None) -> PostProcessConfig:
    """``model.postprocessor.params`` of a loaded config as a :class:`PostProcessConfig` (``score_thresh`` overrides)."""
    post = loaded.model.postprocessor
    p = post.params if post is not None else PostprocessorParams()
    return PostProcessConfig(score_thresh=p.score_thresh if score_thresh is None else score_thresh,
                             iou_thresh=p.nms_thresh, max_detections=p.max_detections,
                             pre_nms_topk=p.pre_nms_topk, class_agnostic=p.class_agnostic)


def postprocess(outputs: Any, config: Optional[PostProcessConfig] = None,
                image_size: Optional[Sequence[int]] = None) -> list[Detections]:
    """Decoded head output ``(B, N, 5 + C)`` (or a training-mode dict) → per-image :class:`Detections`.
    ``image_size (H, W)`` clips boxes to the image."""
    cfg = config or PostProcessConfig()
    pred = outputs["pred"] if isinstance(outputs, dict) else outputs
    pred = pred.detach().float()
    results = []
    for p in pred:
        cls_prob, cls_idx = p[:, 5:].sigmoid().max(dim=1)
        scores = p[:, 4].sigmoid() * cls_prob
        keep = scores > cfg.score_thresh
        boxes, scores, classes = cxcywh_to_xyxy(p[keep, :4]), scores[keep], cls_idx[keep]
        if scores.numel() > cfg.pre_nms_topk:
            top = scores.topk(cfg.pre_nms_topk).indices
            boxes, scores, classes = boxes[top], scores[top], classes[top]
        if image_size is not None:
            boxes = clip_boxes(boxes, float(image_size[0]), float(image_size[1]))
        groups = torch.zeros_like(classes) if cfg.class_agnostic else classes
        kept = batched_nms(boxes, scores, groups, cfg.iou_thresh)[: cfg.max_detections]
        results.append(Detections(boxes[kept], scores[kept], classes[kept]))
    return results
