"""The ``model`` section, field for field as in the NetsPresso Trainer model docs (the seeds)."""
from __future__ import annotations

from typing import Any, Optional

import attrs


@attrs.define(kw_only=True)
class ComponentConfig:
    """``architecture.{full,backbone,neck,head}``: a provider name and its params.

    ``params`` and ``stage_params`` stay plain here; they are validated against the provider's
    own params classes once the provider is known (``nptrain.config.components``)."""

    name: str
    params: Optional[dict[str, Any]] = None
    # a mapping per stage for most providers; NetsPresso's block-list families (mobilenetv4, gelan) write a
    # list per stage, so the shape is the provider's stage class's to check, not this section's
    stage_params: Optional[list[Any]] = None


@attrs.define(kw_only=True)
class ArchitectureConfig:
    full: Optional[ComponentConfig] = None
    backbone: Optional[ComponentConfig] = None
    neck: Optional[ComponentConfig] = None
    head: Optional[ComponentConfig] = None

    def is_empty(self) -> bool:
        return all(getattr(self, f) is None for f in ("full", "backbone", "neck", "head"))


@attrs.define(kw_only=True)
class LossConfig:
    """One ``losses`` entry; keys other than ``criterion`` and ``weight`` are the criterion's params."""

    criterion: str
    weight: Optional[float] = None
    params: dict[str, Any] = attrs.Factory(dict)


def _fraction(lo_open: bool):
    lo = attrs.validators.gt(0.0) if lo_open else attrs.validators.ge(0.0)
    return [lo, attrs.validators.le(1.0)]


@attrs.define(kw_only=True)
class PostprocessorParams:
    """Detection post-processing (outside the model, so exports keep the raw output).

    The defaults suit validation mAP: a low ``score_thresh`` keeps the whole precision-recall curve.
    ``nptrain predict`` draws with its own ``--score-thresh`` (default 0.3) unless given here."""

    score_thresh: float = attrs.field(default=0.01, validator=_fraction(False))  # sigmoid(obj) * sigmoid(class)
    nms_thresh: float = attrs.field(default=0.65, validator=_fraction(True))  # IoU above which NMS suppresses
    class_agnostic: bool = False  # NMS across classes (one box per object even if two classes fire)
    max_detections: int = attrs.field(default=100, validator=attrs.validators.ge(1))  # per image, after NMS
    pre_nms_topk: int = attrs.field(default=1000, validator=attrs.validators.ge(1))  # candidates entering NMS


@attrs.define(kw_only=True)
class PostprocessorConfig:
    """``model.postprocessor`` (NetsPresso's layout: ``{params: {score_thresh, nms_thresh, class_agnostic}}``)."""

    params: PostprocessorParams = attrs.Factory(PostprocessorParams)


@attrs.define(kw_only=True)
class ModelConfig:
    # an installed task: classification, segmentation, detection or one a plugin adds (checked at load)
    task: str = "classification"
    name: Optional[str] = None
    checkpoint: Optional[str] = None
    fx_model_checkpoint: Optional[str] = None
    resume_optimizer_checkpoint: Optional[str] = None
    freeze_backbone: bool = False
    architecture: ArchitectureConfig = attrs.Factory(ArchitectureConfig)
    losses: list[LossConfig] = attrs.Factory(list)
    # detection only (ignored by the other tasks); None: the defaults of PostprocessorParams
    postprocessor: Optional[PostprocessorConfig] = None
