"""Build task models and losses from resolved configuration."""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from nptrain.config.components import ResolvedComponent, ResolvedModel
from nptrain.errors import UserError
from nptrain.modeling.task_models import TASK_MODELS, FullModel, TaskModel
from nptrain.records import FeatureInfo


def _check_feature_info(module: nn.Module, comp: ResolvedComponent) -> FeatureInfo:
    info = getattr(module, "feature_info", None)
    if not isinstance(info, FeatureInfo):
        raise TypeError(f"{comp.kind} {comp.record.name!r} from {comp.provided.dist} has no feature_info "
                        "(a FeatureInfo attribute set in __init__)")
    return info


def build_backbone(comp: ResolvedComponent, task: str) -> nn.Module:
    module = comp.record.build_factory()(comp.params, comp.stage_params, task)
    _check_feature_info(module, comp)
    return module


def build_model(resolved: ResolvedModel, num_classes: int, name: str = "") -> TaskModel:
    """Instantiate the model a resolved config describes (weights freshly initialised)."""
    if num_classes < 1:
        raise UserError(f"num_classes must be at least 1, got {num_classes}")
    task = resolved.task
    if resolved.full is not None:
        full = resolved.full.record.build_factory()(resolved.full.params, resolved.full.stage_params, num_classes, task)
        return FullModel(full, task, name)
    if resolved.backbone is None or resolved.head is None:
        raise UserError("the config describes no model (architecture.backbone/head or architecture.full)")
    backbone = build_backbone(resolved.backbone, task)
    features = backbone.feature_info
    neck = None
    if resolved.neck is not None:
        neck = resolved.neck.record.build_factory()(resolved.neck.params, features)
        features = _check_feature_info(neck, resolved.neck)
    head = resolved.head.record.build_factory()(resolved.head.params, features, num_classes, task)
    return TASK_MODELS[task](backbone, neck, head, name)


class WeightedLoss(nn.Module):
    """Sum of the configured criteria, each times its weight; ``last`` keeps the parts for logging:
    each criterion's value under its name, plus the terms a criterion reports in its own ``last``
    dict (e.g. ``yolox_loss``: ``iou``, ``obj``, ``cls``, ``l1``, ``num_fg``)."""

    def __init__(self, criteria: list[nn.Module], weights: list[float], names: list[str]) -> None:
        super().__init__()
        self.criteria = nn.ModuleList(criteria)
        self.weights = list(weights)
        self.names = list(names)
        self.last: dict[str, float] = {}

    def forward(self, outputs, targets) -> torch.Tensor:
        total: Optional[torch.Tensor] = None
        parts = {}
        for name, weight, crit in zip(self.names, self.weights, self.criteria):
            value = crit(outputs, targets)
            parts[name] = float(value.detach())
            own = getattr(crit, "last", None)
            if isinstance(own, dict):
                parts.update({k: float(v) for k, v in own.items() if k not in parts})
            total = value * weight if total is None else total + value * weight
        self.last = parts
        assert total is not None
        return total


def build_loss(resolved: ResolvedModel) -> WeightedLoss:
    if not resolved.losses:
        raise UserError("model.losses is empty; add e.g. - criterion: cross_entropy")
    crits = [loss.provided.record.build_factory()(loss.params) for loss in resolved.losses]
    return WeightedLoss(crits, [loss.weight for loss in resolved.losses],
                        [loss.provided.record.name for loss in resolved.losses])
