"""``training.distillation``: knowledge distillation from a teacher model, as typed records.

``teacher`` is a run directory (its ``config.yaml`` and safetensors weights) or ``{config: FILE,
checkpoint: FILE}``; ``kind`` picks what is distilled (``auto``: logits for classification and
segmentation, neck/backbone features for detection). The run mixes the task loss and the
distillation loss as ``(1 - weight) * task + weight * distill``. The training code
(:mod:`nptrain.training.distill`) receives these records and never parses config itself.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Mapping, Optional, Union

import attrs

from nptrain.config.hook_kit import ScalarError
from nptrain.config.ranges import NonNegativeInt, PositiveFloat, Probability


@attrs.define(kw_only=True)
class TeacherFiles:
    """``teacher: {config: FILE, checkpoint: FILE}``: a config describing the teacher's architecture and
    its weights (``.safetensors``; a torch.fx ``.pt`` is unpickled only with ``--trust-pickle``)."""

    config: str
    checkpoint: str


@attrs.define(kw_only=True)
class FeaturePair:
    """One explicit feature pair: indices into the student's and the teacher's feature tuples (the
    neck's outputs when both models have a neck, else the backbone's)."""

    student: NonNegativeInt
    teacher: NonNegativeInt


# a run directory, or the teacher's config and weights
Teacher = Union[str, TeacherFiles]
# ``auto``: pair features of equal stride (FeatureInfo); or explicit index pairs
FeaturePairs = Union[Literal["auto"], list[FeaturePair]]


@attrs.define(kw_only=True)
class DistillationConfig:
    """``training.distillation`` (None: off). ``weight`` mixes: ``(1 - weight) * task + weight * distill``."""

    teacher: Teacher
    weight: Probability = 0.5
    temperature: PositiveFloat = 4.0  # logits: KL at T, scaled by T^2 (Hinton et al.)
    # auto: logits for classification/segmentation, features for detection
    kind: Literal["auto", "logits", "features", "both"] = "auto"
    feature_pairs: FeaturePairs = "auto"

    def kind_for(self, task: str) -> str:
        """``kind`` with ``auto`` resolved for ``task``."""
        if self.kind != "auto":
            return self.kind
        return "features" if task == "detection" else "logits"


def register_distillation_hooks(conv: Any) -> None:
    """``teacher`` is a string or a mapping, ``feature_pairs`` ``auto`` or a list: cattrs cannot tell
    these unions apart by itself, so each gets a hook that decides by the value's kind."""
    def teacher_hook(value: Any, _: Any) -> Teacher:
        if isinstance(value, str) and value:
            return value
        if isinstance(value, Mapping):
            return conv.structure(value, TeacherFiles)
        raise ScalarError(f"expected a run directory or {{config: FILE, checkpoint: FILE}}; got {value!r}")

    def pairs_hook(value: Any, _: Any) -> FeaturePairs:
        if value == "auto":
            return "auto"
        if isinstance(value, list) and value:
            return conv.structure(value, list[FeaturePair])
        raise ScalarError(f"expected auto or a non-empty list of {{student: I, teacher: J}}; got {value!r}")

    conv.register_structure_hook_func(lambda tp: tp == Teacher, teacher_hook)
    conv.register_structure_hook_func(lambda tp: tp == FeaturePairs, pairs_hook)


def check_distillation(run: Any, task: Optional[str], cfg: Any) -> list:
    """Located errors for what can be seen without loading the teacher: its files exist, and the
    kind suits the task (detection distils features only)."""
    dist: Optional[DistillationConfig] = run.training.distillation
    if dist is None:
        return []
    base = ("training", "distillation")
    errors = []
    if task == "detection" and dist.kind in ("logits", "both"):
        errors.append(cfg.error(base + ("kind",), "detection distils neck features (kind: features or auto); "
                                "its raw box/objectness outputs have no logit distillation"))
    if isinstance(dist.teacher, str):
        folder = Path(dist.teacher).expanduser()
        if not folder.is_dir():
            errors.append(cfg.error(base + ("teacher",), f"run directory not found: {dist.teacher}"
                                    + (" (a file: use {config: FILE, checkpoint: FILE})" if folder.is_file() else "")))
        elif not (folder / "config.yaml").is_file():
            errors.append(cfg.error(base + ("teacher",), f"{dist.teacher} is not a run directory (no config.yaml)"))
        return errors
    for field in ("config", "checkpoint"):
        path = Path(getattr(dist.teacher, field)).expanduser()
        if not path.is_file():
            errors.append(cfg.error(base + ("teacher", field), f"file not found: {getattr(dist.teacher, field)}"))
    return errors
