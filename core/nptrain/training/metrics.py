"""Per-task metric accumulators whose state is a few tensors of sums, so a distributed run
reduces them with one ``all_reduce(SUM)`` and gets exactly the single-process numbers."""
from __future__ import annotations

from typing import Any, Optional

import torch

from nptrain.errors import UserError
from nptrain.metric_base import Metric


class ClassificationMetric(Metric):
    AVAILABLE = ("top1_accuracy", "top5_accuracy")

    def __init__(self, names: Optional[list[str]] = None, num_classes: int = 0) -> None:
        self.names = list(names or self.AVAILABLE)
        bad = [n for n in self.names if n not in self.AVAILABLE]
        if bad:
            raise UserError(f"logging.metrics.metric_names: {bad[0]!r} is not a classification metric "
                            f"({', '.join(self.AVAILABLE)})")
        self.primary = self.names[0]
        # correct@1, correct@5, count, loss_sum, then the (C, C) confusion matrix flattened
        # (float64 so sums are exact for realistic sizes); one tensor, so DDP reduces it in one call
        self.num_classes = num_classes
        self.sums = torch.zeros(4 + num_classes * num_classes, dtype=torch.float64)

    def update(self, logits, target, loss):
        labels = target["labels"]
        if labels.dim() == 2:  # soft targets (mixing): score against the dominant class
            labels = labels.argmax(1)
        k = min(5, logits.shape[1])
        top = logits.topk(k, dim=1).indices
        hit = top == labels[:, None]
        n = labels.shape[0]
        self.sums[:4] += torch.tensor([hit[:, 0].sum().item(), hit.any(1).sum().item(), n, loss * n], dtype=torch.float64)
        c = self.num_classes
        if c:
            pairs = labels.long().cpu() * c + top[:, 0].long().cpu()
            self.sums[4:] += torch.bincount(pairs, minlength=c * c).to(torch.float64)

    def confusion(self) -> Optional[torch.Tensor]:
        c = self.num_classes
        return self.sums[4:].view(c, c) if c else None

    def state(self):
        return self.sums

    def load(self, state):
        self.sums = state.to(torch.float64)

    def compute(self):
        c1, c5, n, loss = self.sums[:4].tolist()
        n = max(n, 1.0)
        out = {"loss": loss / n}
        values = {"top1_accuracy": c1 / n, "top5_accuracy": c5 / n}
        out.update({k: values[k] for k in self.names})
        return out


class SegmentationMetric(Metric):
    AVAILABLE = ("miou", "pixel_accuracy")

    def __init__(self, num_classes: int, ignore_index: int = 255, names: Optional[list[str]] = None) -> None:
        self.names = list(names or self.AVAILABLE)
        bad = [n for n in self.names if n not in self.AVAILABLE]
        if bad:
            raise UserError(f"logging.metrics.metric_names: {bad[0]!r} is not a segmentation metric "
                            f"({', '.join(self.AVAILABLE)})")
        self.primary = self.names[0]
        self.num_classes, self.ignore_index = num_classes, ignore_index
        # confusion matrix flattened, then [count, loss_sum]
        self.sums = torch.zeros(num_classes * num_classes + 2, dtype=torch.float64)

    def update(self, logits, target, loss):
        masks = target["masks"]
        pred = logits.argmax(1)
        # ignore_index pixels (and any id outside the classes) are not counted anywhere
        valid = (masks != self.ignore_index) & (masks >= 0) & (masks < self.num_classes)
        idx = masks[valid] * self.num_classes + pred[valid]
        conf = torch.bincount(idx.flatten(), minlength=self.num_classes ** 2).to(torch.float64)
        n = masks.shape[0]
        self.sums[:-2] += conf
        self.sums[-2:] += torch.tensor([n, loss * n], dtype=torch.float64)

    def state(self):
        return self.sums

    def load(self, state):
        self.sums = state.to(torch.float64)

    def confusion(self) -> torch.Tensor:
        """``(C, C)`` pixel counts, rows = true class, columns = predicted class."""
        c = self.num_classes
        return self.sums[:-2].view(c, c)

    def per_class_iou(self) -> list[Optional[float]]:
        """IoU of each class; None for a class that is neither in the masks nor predicted
        (it is left out of the mean instead of counting as 0 or 1)."""
        conf = self.confusion()
        inter = conf.diag()
        union = conf.sum(0) + conf.sum(1) - inter
        return [float(i / u) if u > 0 else None for i, u in zip(inter.tolist(), union.tolist())]

    def compute(self):
        conf = self.confusion()
        n, loss = self.sums[-2:].tolist()
        ious = [v for v in self.per_class_iou() if v is not None]
        values = {"miou": sum(ious) / len(ious) if ious else 0.0,
                  "pixel_accuracy": float(conf.diag().sum() / conf.sum().clamp(min=1))}
        out = {"loss": loss / max(n, 1.0)}
        out.update({k: values[k] for k in self.names})
        return out


    def details(self, classes):
        conf = self.confusion()
        pixels = conf.sum(1).tolist()
        return {"per_class_iou": {name: iou for name, iou in zip(classes, self.per_class_iou())},
                "per_class_pixels": {name: int(n) for name, n in zip(classes, pixels)}}

    def format_details(self, details):
        return format_class_table(details) if details.get("per_class_iou") else ""


def format_class_table(details: dict[str, Any]) -> str:
    """``details()`` of a segmentation metric as aligned text: class, IoU ("-": absent), pixels."""
    ious, pixels = details.get("per_class_iou", {}), details.get("per_class_pixels", {})
    rows = [("class", "IoU", "pixels")]
    for name, iou in ious.items():
        rows.append((name, "-" if iou is None else f"{iou:.4f}", str(pixels.get(name, 0))))
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{r[0]:<{width[0]}}  {r[1]:>{width[1]}}  {r[2]:>{width[2]}}" for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def classification_metric(loaded: Any, num_classes: int) -> ClassificationMetric:
    """The classification task's metric (``TaskRecord.metric``)."""
    return ClassificationMetric(loaded.run.logging.metrics.metric_names, num_classes)


def segmentation_metric(loaded: Any, num_classes: int) -> SegmentationMetric:
    """The segmentation task's metric (``TaskRecord.metric``); ``data.ignore_index`` pixels are not counted."""
    return SegmentationMetric(num_classes, loaded.run.data.ignore_index, loaded.run.logging.metrics.metric_names)
