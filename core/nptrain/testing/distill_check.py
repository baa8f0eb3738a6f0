"""The conformance check that any model can be a distillation student or teacher.

One step of ``training.distillation`` between two instances of the same preset: feature pairs found
from the modules' ``FeatureInfo`` (``feature_pairs: auto``), a finite mixed loss whose gradient reaches
the student and never the teacher; and with the teacher holding the student's own weights (both in eval
mode) the distillation terms are zero, so the losses compare the right outputs with each other.
"""
from __future__ import annotations

from typing import Any, Callable
import copy

import torch
from torch import nn

from nptrain.config.distillation_section import DistillationConfig
from nptrain.training.distill import Distiller, feature_source
from nptrain.teacher import freeze


def distill_kind(model: nn.Module, task: str) -> str:
    """What the check exercises: features for detection, logits and (when the model has a
    backbone/neck) features for the others."""
    if task == "detection":
        return "features"
    return "both" if feature_source(model) is not None else "logits"


def check_distillation_step(build: Callable[[], nn.Module], x: torch.Tensor, task: str,
                            loss_fn: Callable[[Any, dict], torch.Tensor], targets: dict, what: str) -> None:
    torch.manual_seed(0)
    student = build().train()
    teacher = freeze(copy.deepcopy(student))  # built once: copies are far cheaper for large presets
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # a teacher that differs everywhere (some heads start at zero)
        for p in teacher.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    kind = distill_kind(student, task)
    config = DistillationConfig(teacher="-", kind=kind, weight=0.5, temperature=2.0)
    dist = Distiller(student, teacher, config, task, probe=x[:1], ignore_index=255)
    if kind != "logits":
        assert dist.pairs, f"{what}: no feature pairs found from FeatureInfo"
    out = student(x)
    loss = dist.mix(loss_fn(out, targets), out, x, targets)
    assert torch.isfinite(loss), f"{what}: distillation loss is {loss}"
    assert all(v > 0 for k, v in dist.last.items() if k != "task"), f"{what}: a distillation term is zero: {dist.last}"
    loss.backward()
    assert all(p.grad is None for p in teacher.parameters()), f"{what}: gradient reached the teacher"
    reached = [n for n, p in student.named_parameters() if p.grad is not None]
    assert reached, f"{what}: no gradient reached the student"
    dist.close()

    # the student as its own teacher (no optimizer ran): nothing to distil
    student.eval()
    twin = freeze(copy.deepcopy(student))
    same = Distiller(student, twin, config, task, probe=x[:1], ignore_index=255)
    with torch.no_grad():
        out = student(x)
        same.mix(loss_fn(out, targets), out, x, targets)
    same.close()
    assert all(abs(v) < 1e-5 for k, v in same.last.items() if k != "task"), \
        f"{what}: a student distilled from its own weights has non-zero terms {same.last}"
