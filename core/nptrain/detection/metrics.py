"""Detection metrics: ``map50``, ``map75``, ``map50_95`` from the COCO evaluator (faster-coco-eval,
a maintained C++ re-implementation of pycocotools with identical numbers), plus ``precision50`` /
``recall50``.

``precision50`` / ``recall50`` are micro-averaged over classes and images at IoU 0.5 for the
detections *as given* (so after post-processing's score threshold): detections are matched per
image and class in score order, each to the unmatched gt it overlaps most (IoU ≥ 0.5), as COCO does.
Categories are ``class index + 1`` inside the COCO structures. With no ground truth at all the
COCO numbers are undefined (-1 in pycocotools); they are reported as 0.0.
"""
from __future__ import annotations

import logging
from typing import Any, Optional, Sequence

import numpy as np
import torch

from nptrain.detection.boxes import box_iou
from nptrain.detection.postprocess import Detections, PostProcessConfig, postprocess, postprocess_config
from nptrain.errors import UserError
from nptrain.metric_base import Metric

AVAILABLE = ("map50", "map75", "map50_95", "precision50", "recall50")
# the first is the primary metric, which picks weights/best: the strictest, localisation-sensitive one
DEFAULT_NAMES = ("map50_95", "map50", "map75", "precision50", "recall50")


def _class_ap(precision: np.ndarray, k: int, iou_index: Optional[int]) -> Optional[float]:
    """AP of category ``k`` from COCOeval's precision array ``(T, R, K, A, M)`` (area "all", most dets);
    None when the class has no ground truth (every entry is -1)."""
    p = precision[:, :, k, 0, -1] if iou_index is None else precision[iou_index, :, k, 0, -1]
    p = p[p > -1]
    return float(p.mean()) if p.size else None


def _coco_eval(images: list[dict], gts: list[dict], dets: list[dict], num_classes: int) -> dict[str, Any]:
    """COCO protocol (101-point interpolation, 100 dets): AP50, AP75, AP50:95 over all images, and
    per class AP50:95 / AP50 (None for classes without ground truth)."""
    try:
        from faster_coco_eval import COCO, COCOeval_faster
    except ImportError as exc:  # pragma: no cover - the dependency is declared
        raise ImportError("detection mAP needs faster-coco-eval: pip install faster-coco-eval") from exc
    if not gts:
        return {"map50": 0.0, "map75": 0.0, "map50_95": 0.0, "per_class": [(None, None)] * num_classes,
                "pr50": [None] * num_classes}
    quiet = logging.getLogger(__name__).debug
    gt = COCO({"images": images, "annotations": gts, "categories": [{"id": c + 1, "name": str(c)} for c in range(num_classes)]},
              print_function=quiet)
    dt = gt.loadRes(dets)
    ev = COCOeval_faster(gt, dt, "bbox", print_function=quiet)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    ap50_95, ap50, ap75 = (max(float(v), 0.0) for v in ev.stats[:3])
    precision = np.asarray(ev.eval["precision"])
    per_class = [(_class_ap(precision, k, None), _class_ap(precision, k, 0)) for k in range(num_classes)]
    # each class' interpolated precision at the 101 recall points, IoU 0.5 (its mean is the class AP50)
    pr50 = [None if ap50_k is None else precision[0, :, k, 0, -1].astype(np.float64).clip(min=0.0)
            for k, (_, ap50_k) in enumerate(per_class)]
    return {"map50": ap50, "map75": ap75, "map50_95": ap50_95, "per_class": per_class, "pr50": pr50}


def _xywh(boxes: torch.Tensor) -> list[list[float]]:
    b = boxes.double()
    return torch.stack((b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]), 1).tolist()


def match_counts(det: Detections, gt_boxes: torch.Tensor, gt_classes: torch.Tensor, iou_thresh: float = 0.5) -> tuple[int, int, int]:
    """(true positives, detections, ground truths) of one image at ``iou_thresh``."""
    tp = 0
    for c in torch.unique(torch.cat((det.classes, gt_classes.long()))).tolist():
        d = det.classes == c
        g = gt_classes == c
        if not bool(d.any()) or not bool(g.any()):
            continue
        order = det.scores[d].argsort(descending=True, stable=True)
        iou = box_iou(det.boxes[d][order].double(), gt_boxes[g].double())
        used = torch.zeros(iou.shape[1], dtype=torch.bool)
        for row in iou:
            row = row.masked_fill(used, -1.0)
            best = int(row.argmax())
            if float(row[best]) >= iou_thresh:
                used[best] = True
                tp += 1
    return tp, len(det), int(gt_classes.numel())


class DetectionEvaluator:
    """Collects per-image detections and ground truth; :meth:`compute` gives every metric."""

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.images: list[dict] = []
        self.gts: list[dict] = []
        self.dets: list[dict] = []
        self.counts = np.zeros(3, dtype=np.int64)  # tp, detections, ground truths

    def add(self, detections: Sequence[Detections], gt_boxes: Sequence[torch.Tensor], gt_classes: Sequence[torch.Tensor]) -> None:
        for det, boxes, classes in zip(detections, gt_boxes, gt_classes, strict=True):
            det = Detections(det.boxes.detach().cpu().float(), det.scores.detach().cpu().float(), det.classes.detach().cpu().long())
            boxes, classes = boxes.detach().cpu().float().reshape(-1, 4), classes.detach().cpu().long().reshape(-1)
            bad = classes[(classes < 0) | (classes >= self.num_classes)]
            if bad.numel():
                raise ValueError(f"ground-truth class {int(bad[0])} is outside 0..{self.num_classes - 1}")
            image_id = len(self.images) + 1
            self.images.append({"id": image_id})
            for box, c in zip(_xywh(boxes), classes.tolist()):
                self.gts.append({"id": len(self.gts) + 1, "image_id": image_id, "category_id": c + 1, "bbox": box,
                                 "area": box[2] * box[3], "iscrowd": 0})
            for box, c, s in zip(_xywh(det.boxes), det.classes.tolist(), det.scores.tolist()):
                self.dets.append({"image_id": image_id, "category_id": int(c) + 1, "bbox": box, "score": float(s)})
            self.counts += np.array(match_counts(det, boxes, classes), dtype=np.int64)

    def merge(self, other: "DetectionEvaluator") -> None:
        """Append another evaluator's images (e.g. gathered from other ranks), renumbering them."""
        shift = len(self.images)
        self.images += [{"id": im["id"] + shift} for im in other.images]
        gt_shift = len(self.gts)
        self.gts += [{**g, "id": g["id"] + gt_shift, "image_id": g["image_id"] + shift} for g in other.gts]
        self.dets += [{**d, "image_id": d["image_id"] + shift} for d in other.dets]
        self.counts += other.counts

    def evaluate(self) -> dict[str, Any]:
        """Every metric plus ``per_class``: ``[(AP50:95, AP50), …]`` by class index."""
        out = _coco_eval(self.images, self.gts, self.dets, self.num_classes)
        tp, n_det, n_gt = (int(v) for v in self.counts)
        out.update(precision50=tp / n_det if n_det else 0.0, recall50=tp / n_gt if n_gt else 0.0)
        return out

    def gt_counts(self) -> list[int]:
        counts = [0] * self.num_classes
        for g in self.gts:
            counts[g["category_id"] - 1] += 1
        return counts

    def compute(self) -> dict[str, float]:
        return {k: v for k, v in self.evaluate().items() if k not in ("per_class", "pr50")}


class DetectionMetric(Metric):
    """The training engine's metric interface for detection: ``update`` takes the model's eval
    output, post-processes it and accumulates. Its state is a list of detections, not a fixed
    tensor, so :meth:`reduce` gathers evaluators with ``all_gather_object`` instead of a sum."""

    def __init__(self, num_classes: int, names: Optional[list[str]] = None,
                 postprocess_config: Optional[PostProcessConfig] = None) -> None:
        self.names = list(names or DEFAULT_NAMES)
        bad = [n for n in self.names if n not in AVAILABLE]
        if bad:
            raise UserError(f"logging.metrics.metric_names: {bad[0]!r} is not a detection metric "
                            f"({', '.join(AVAILABLE)})")
        self.primary = self.names[0]
        self.evaluator = DetectionEvaluator(num_classes)
        self.postprocess_config = postprocess_config or PostProcessConfig()
        self.sums = torch.zeros(2, dtype=torch.float64)  # images, loss sum
        self._last: Optional[dict[str, Any]] = None  # the evaluation compute() made, reused by details()

    def update(self, logits: Any, target: dict, loss: float) -> None:
        size = target.get("image_size")
        if isinstance(size, torch.Tensor) and size.dim() == 2:
            size = size[0]  # (B, 2): a batch shares one input size
        dets = postprocess(logits, self.postprocess_config, image_size=None if size is None else tuple(int(v) for v in size))
        self.evaluator.add(dets, target["boxes"], target["classes"])
        self.sums += torch.tensor([len(dets), loss * len(dets)], dtype=torch.float64)

    def state(self) -> torch.Tensor:
        return self.sums

    def load(self, state: torch.Tensor) -> None:
        self.sums = state.to(torch.float64)

    def reduce(self) -> None:
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return
        gathered: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, (self.evaluator, self.sums))
        merged = DetectionEvaluator(self.evaluator.num_classes)
        sums = torch.zeros(2, dtype=torch.float64)
        for ev, s in gathered:  # rank order, so every rank computes the same numbers
            merged.merge(ev)
            sums += s
        self.evaluator, self.sums = merged, sums

    def compute(self) -> dict[str, float]:
        n, loss = self.sums.tolist()
        self._last = self.evaluator.evaluate()
        return {"loss": loss / max(n, 1.0), **{k: self._last[k] for k in self.names}}

    def details(self, classes: list[str]) -> dict[str, Any]:
        """Per-class AP (None: no ground truth of that class) and ground-truth counts."""
        values = self._last or self.evaluator.evaluate()
        counts = self.evaluator.gt_counts()
        return {"per_class_ap50_95": {name: ap for name, (ap, _) in zip(classes, values["per_class"])},
                "per_class_ap50": {name: ap for name, (_, ap) in zip(classes, values["per_class"])},
                "per_class_boxes": {name: n for name, n in zip(classes, counts)}}

    def format_details(self, details: dict[str, Any]) -> str:
        return format_ap_table(details) if details.get("per_class_ap50_95") else ""

    def pr_curves(self) -> list[Optional[np.ndarray]]:
        """Per class: precision at COCO's 101 recall points, IoU 0.5 (None: no ground truth)."""
        values = self._last or self.evaluator.evaluate()
        return values["pr50"]


def format_ap_table(details: dict[str, Any]) -> str:
    """``details()`` as aligned text: class, AP50:95, AP50 ("-": no ground truth), boxes."""
    fmt = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
    rows = [("class", "AP50:95", "AP50", "boxes")]
    for name, ap in details.get("per_class_ap50_95", {}).items():
        rows.append((name, fmt(ap), fmt(details["per_class_ap50"].get(name)),
                     str(details.get("per_class_boxes", {}).get(name, 0))))
    width = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [f"{r[0]:<{width[0]}}  " + "  ".join(f"{r[i]:>{width[i]}}" for i in range(1, 4)) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def detection_metric(loaded: Any, num_classes: int) -> DetectionMetric:
    """The detection task's metric (``TaskRecord.metric``), post-processing as ``model.postprocessor`` says."""
    return DetectionMetric(num_classes, loaded.run.logging.metrics.metric_names, postprocess_config(loaded))
