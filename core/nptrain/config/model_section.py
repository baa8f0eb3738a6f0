"""The ``model`` section, field for field as in the NetsPresso Trainer model docs (the seeds)."""
from __future__ import annotations

from typing import Any, Literal, Optional

import attrs

Task = Literal["classification", "segmentation", "detection"]


@attrs.define(kw_only=True)
class ComponentConfig:
    """``architecture.{full,backbone,neck,head}``: a provider name and its params.

    ``params`` and ``stage_params`` stay plain here; they are validated against the provider's
    own params classes once the provider is known (``nptrain.config.components``)."""

    name: str
    params: Optional[dict[str, Any]] = None
    stage_params: Optional[list[dict[str, Any]]] = None


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


@attrs.define(kw_only=True)
class ModelConfig:
    task: Task = "classification"
    name: Optional[str] = None
    checkpoint: Optional[str] = None
    fx_model_checkpoint: Optional[str] = None
    resume_optimizer_checkpoint: Optional[str] = None
    freeze_backbone: bool = False
    architecture: ArchitectureConfig = attrs.Factory(ArchitectureConfig)
    losses: list[LossConfig] = attrs.Factory(list)
