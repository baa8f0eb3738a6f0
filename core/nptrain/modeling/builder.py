"""Build task models and losses from resolved configuration.

A provider's factory may still refuse params that passed their types (``return_stage_idx`` naming a
stage that does not exist): that is reported as a located config error naming the provider, not an
internal error. :func:`check_buildable` builds once so ``config check`` and ``run`` refuse alike.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torch import nn

from nptrain.config.components import ResolvedComponent, ResolvedModel
from nptrain.errors import UserError
from nptrain.modeling.task_models import FullModel, TaskModel
from nptrain.records import FeatureInfo


def _check_feature_info(module: nn.Module, comp: ResolvedComponent) -> FeatureInfo:
    info = getattr(module, "feature_info", None)
    if not isinstance(info, FeatureInfo):
        raise TypeError(f"{comp.kind} {comp.record.name!r} from {comp.provided.dist} has no feature_info "
                        "(a FeatureInfo attribute set in __init__)")
    return info


# what a factory raises for params it cannot build (a plugin's own checks); anything else is a bug
REFUSALS = (ValueError, TypeError, AssertionError, IndexError, KeyError, ZeroDivisionError, MemoryError, RuntimeError)


def _refusal(exc: BaseException) -> bool:
    """A RuntimeError only when torch could not allocate the weights (absurd widths); others are bugs."""
    return not isinstance(exc, RuntimeError) or "alloc" in str(exc).lower()


def _call(comp: Any, located: Any, make: Callable[[], Any]) -> Any:
    try:
        return make()
    except UserError:
        raise
    except REFUSALS as exc:
        if located is None or not comp.path or not _refusal(exc):
            raise
        kind = getattr(comp, "kind", "loss")
        where = comp.path + (("params",) if kind != "loss" else ())
        raise located.error(where, f"{kind} {comp.provided.record.name!r} ({comp.provided.dist}) cannot be built "
                            f"with these params: {type(exc).__name__}: {exc}") from exc


def build_backbone(comp: ResolvedComponent, task: str, located: Any = None) -> nn.Module:
    module = _call(comp, located, lambda: comp.record.build_factory()(comp.params, comp.stage_params, task))
    _check_feature_info(module, comp)
    return module


def build_model(resolved: ResolvedModel, num_classes: int, name: str = "") -> TaskModel:
    """Instantiate the model a resolved config describes (weights freshly initialised)."""
    if num_classes < 1:
        raise UserError(f"num_classes must be at least 1, got {num_classes}")
    task, located = resolved.task, resolved.located
    task_model = resolved.task_spec.part("model")
    if resolved.full is not None:
        comp = resolved.full
        full = _call(comp, located, lambda: comp.record.build_factory()(comp.params, comp.stage_params, num_classes, task))
        return FullModel(full, task, name, task_model=task_model)
    if resolved.backbone is None or resolved.head is None:
        raise UserError("the config describes no model (architecture.backbone/head or architecture.full)")
    backbone = build_backbone(resolved.backbone, task, located)
    features = backbone.feature_info
    neck = None
    if resolved.neck is not None:
        neck_cfg = resolved.neck
        neck = _call(neck_cfg, located, lambda: neck_cfg.record.build_factory()(neck_cfg.params, features))
        features = _check_feature_info(neck, resolved.neck)
    head_cfg = resolved.head
    head = _call(head_cfg, located, lambda: head_cfg.record.build_factory()(head_cfg.params, features, num_classes, task))
    return task_model(backbone, neck, head, name)


def check_buildable(resolved: ResolvedModel, num_classes: int = 2) -> None:
    """Build the model and its losses once and drop them: a provider refusing its params fails here,
    as a located error, before a run directory or data are touched. ``num_classes`` stands in for the
    data's (which only sizes the classifier)."""
    if resolved.full is None and resolved.backbone is None:
        return  # an fx or pruned checkpoint supplies the model
    build_model(resolved, num_classes)
    build_loss(resolved)


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
    crits = [_call(loss, resolved.located, lambda loss=loss: loss.provided.record.build_factory()(loss.params))
             for loss in resolved.losses]
    return WeightedLoss(crits, [loss.weight for loss in resolved.losses],
                        [loss.provided.record.name for loss in resolved.losses])
