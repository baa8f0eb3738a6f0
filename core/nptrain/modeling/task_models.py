"""Task models: ``backbone → (neck) → head`` or a full model, with the task's output contract.

State-dict prefixes are ``backbone.``, ``neck.``, ``head.`` (or ``full.``), which converters and
``freeze_backbone`` rely on. Segmentation logits are upsampled to the input size here so every
head can work at its own stride.
"""
from __future__ import annotations

from typing import Optional

import torch.nn.functional as F
from torch import nn


def _upsample_pred(out, size):
    if isinstance(out, dict):
        out = dict(out)
        out["pred"] = F.interpolate(out["pred"], size=size, mode="bilinear", align_corners=False)
        return out
    return F.interpolate(out, size=size, mode="bilinear", align_corners=False)


class TaskModel(nn.Module):
    """Base class: ``task`` and ``name`` attributes and the backbone-parameter helper."""

    task: str = "classification"

    def __init__(self, name: str = "") -> None:
        super().__init__()
        self.name = name

    @staticmethod
    def finish(out, x):
        """The task's last touch on a network's output for input ``x`` (also applied to full models)."""
        return out

    def backbone_parameters(self):
        part = getattr(self, "backbone", None)
        return part.parameters() if part is not None else iter(())


class ClassificationModel(TaskModel):
    task = "classification"

    def __init__(self, backbone: nn.Module, neck: Optional[nn.Module], head: nn.Module, name: str = "") -> None:
        super().__init__(name)
        self.backbone = backbone
        if neck is not None:
            self.neck = neck
        self.head = head

    def forward(self, x):
        features = self.backbone(x)
        if hasattr(self, "neck"):
            features = self.neck(features)
        return self.head(features)


class SegmentationModel(ClassificationModel):
    task = "segmentation"

    @staticmethod
    def finish(out, x):
        """Logits upsampled to the input size, so every head can work at its own stride."""
        return _upsample_pred(out, x.shape[-2:])

    def forward(self, x):
        return self.finish(super().forward(x), x)


class DetectionModel(ClassificationModel):
    """Returns the head's raw predictions; decoding and NMS live in post-processing."""

    task = "detection"


class FullModel(TaskModel):
    """Wraps a full model under ``full.``; its output gets the task model's ``finish`` (segmentation:
    upsampled to the input size)."""

    def __init__(self, full: nn.Module, task: str, name: str = "", task_model: type[TaskModel] = TaskModel) -> None:
        super().__init__(name)
        self.task = task
        self.full = full
        self._finish = task_model.finish

    def forward(self, x):
        return self._finish(self.full(x), x)
