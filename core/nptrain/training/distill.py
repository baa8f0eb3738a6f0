"""Knowledge distillation losses and the per-run :class:`Distiller` the engine calls each step.

- Logits (classification): Hinton KD, ``KL(softmax(t / T) || softmax(s / T)) * T²``, averaged over the
  batch. The teacher sees the same (possibly mixup/cutmix-mixed) images as the student, so soft
  targets need nothing special: the KD term never reads the labels.
- Logits (segmentation): the same KL per pixel at the student's output resolution (the teacher's
  logits are resized to it when they differ); pixels whose mask is ``ignore_index`` are left out.
- Features (detection, or ``kind: features|both``): mean squared error between the teacher's and the
  student's neck outputs (backbone outputs when a model has no neck), paired by stride from the
  modules' ``FeatureInfo`` (``feature_pairs: auto``) or by explicit indices. A student feature whose
  channel count differs from its teacher's (after pruning) goes through a 1×1 convolution first.

The projections are training-only: they are in the optimizer and in the training state
(``weights/last_optimizer.pt``, key ``distill``) so a resumed run continues them, but never in
``weights/*.safetensors`` or the exports, which hold the student alone. The run mixes
``(1 - weight) * task + weight * distill``.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from nptrain.config.distillation_section import DistillationConfig
from nptrain.errors import UserError

Refuse = Callable[[tuple, str], Exception]


def kd_logits_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float,
                   keep: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Hinton KD over dim 1 (classes): ``(B, C)`` or per pixel ``(B, C, H, W)``; ``keep`` (``(B, H, W)``
    bool) selects the pixels that count. Computed in float32; scaled by T² so its gradient keeps the
    task loss's magnitude whatever the temperature."""
    t = float(temperature)
    log_s = F.log_softmax(student.float() / t, dim=1)
    log_t = F.log_softmax(teacher.float() / t, dim=1)
    per_item = (log_t.exp() * (log_t - log_s)).sum(dim=1)  # KL per sample / pixel
    if keep is not None:
        per_item = per_item[keep]
        if per_item.numel() == 0:  # every pixel ignored: no signal, but still part of the graph
            return student.sum() * 0.0
    return per_item.mean() * (t * t)


def segmentation_kd_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float,
                         masks: Optional[torch.Tensor], ignore_index: int) -> torch.Tensor:
    """Pixel-wise KD at the student's resolution, ``ignore_index`` pixels of ``masks`` excluded."""
    if teacher.shape[-2:] != student.shape[-2:]:
        teacher = F.interpolate(teacher.float(), size=student.shape[-2:], mode="bilinear", align_corners=False)
    keep = None
    if masks is not None:
        if masks.shape[-2:] != student.shape[-2:]:
            masks = F.interpolate(masks[:, None].float(), size=student.shape[-2:], mode="nearest")[:, 0].long()
        keep = masks != ignore_index
    return kd_logits_loss(student, teacher, temperature, keep)


def feature_source(model: nn.Module) -> Optional[nn.Module]:
    """The module whose outputs are distilled: the neck when there is one, else the backbone."""
    for part in ("neck", "backbone"):
        module = getattr(model, part, None)
        if isinstance(module, nn.Module) and getattr(module, "feature_info", None) is not None:
            return module
    return None


def auto_pairs(student_strides: tuple, teacher_strides: tuple) -> list[tuple[int, int]]:
    """``(student index, teacher index)`` for every stride both have (the deepest feature of each
    stride), shallowest first; pooled vectors (stride None, e.g. a ViT's class token) pair last."""
    last_s = {s: i for i, s in enumerate(student_strides)}
    last_t = {s: i for i, s in enumerate(teacher_strides)}
    common = sorted(set(last_s) & set(last_t), key=lambda s: (s is None, s or 0))
    return [(last_s[s], last_t[s]) for s in common]


class _Capture:
    """Keeps the latest output of a module (a forward hook)."""

    def __init__(self, module: nn.Module) -> None:
        self.value: Any = None
        self.handle = module.register_forward_hook(self._hook)

    def _hook(self, _module: nn.Module, _inputs: Any, output: Any) -> None:
        self.value = output

    def take(self) -> tuple:
        value, self.value = self.value, None
        if value is None:
            raise UserError("training.distillation: the feature module did not run in the forward pass")
        return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _projection(student_channels: int, teacher_channels: int, dims: int) -> nn.Module:
    if student_channels == teacher_channels:
        return nn.Identity()
    if dims == 2:  # pooled vectors (B, C)
        return nn.Linear(student_channels, teacher_channels, bias=False)
    return nn.Conv2d(student_channels, teacher_channels, kernel_size=1, bias=False)


class Distiller:
    """One run's distillation: frozen teacher, feature hooks, projections and the mixed loss."""

    def __init__(self, student: nn.Module, teacher: nn.Module, config: DistillationConfig, task: str, *,
                 probe: torch.Tensor, ignore_index: int = 255, refuse: Optional[Refuse] = None) -> None:
        refuse = refuse or (lambda path, msg: UserError(f"training.distillation.{'.'.join(map(str, path))}: {msg}"))
        self.teacher, self.config, self.task, self.ignore_index = teacher, config, task, ignore_index
        self.kind = config.kind_for(task)
        self.use_logits = self.kind in ("logits", "both")
        self.use_features = self.kind in ("features", "both")
        self.pairs: list[tuple[int, int]] = []
        self.projections = nn.ModuleList()
        self.last: dict[str, float] = {}
        self._student_capture = self._teacher_capture = None
        if self.use_features:
            self._setup_features(student, probe, refuse)

    # -- setup ---------------------------------------------------------------------------
    def _setup_features(self, student: nn.Module, probe: torch.Tensor, refuse: Refuse) -> None:
        s_mod, t_mod = feature_source(student), feature_source(self.teacher)
        if s_mod is None or t_mod is None:
            who = "student" if s_mod is None else "teacher"
            raise refuse(("kind",), f"feature distillation needs a backbone/neck model; the {who} is a full model "
                         "(use kind: logits)")
        s_strides, t_strides = s_mod.feature_info.strides, t_mod.feature_info.strides
        if self.config.feature_pairs == "auto":
            self.pairs = auto_pairs(s_strides, t_strides)
            if not self.pairs:
                raise refuse(("feature_pairs",), f"no stride in common between the student's features {s_strides} "
                             f"and the teacher's {t_strides}; list the pairs as [{{student: I, teacher: J}}]")
        else:
            for i, pair in enumerate(self.config.feature_pairs):
                for side, index, n in (("student", pair.student, len(s_strides)), ("teacher", pair.teacher, len(t_strides))):
                    if index >= n:
                        raise refuse(("feature_pairs", i, side), f"index {index} is out of range: the {side} "
                                     f"returns {n} features (0 to {n - 1})")
                self.pairs.append((pair.student, pair.teacher))
        self._student_capture, self._teacher_capture = _Capture(s_mod), _Capture(t_mod)
        # channel counts from a real forward: a pruned student's FeatureInfo still declares the original ones
        was_training = student.training
        student.eval()
        with torch.no_grad():
            student(probe)
            self.teacher(probe.to(next(self.teacher.parameters()).device))
        student.train(was_training)
        s_feats, t_feats = self._student_capture.take(), self._teacher_capture.take()
        for si, ti in self.pairs:
            s, t = s_feats[si], t_feats[ti]
            if s.dim() != t.dim():
                raise refuse(("feature_pairs",), f"student feature {si} has shape {tuple(s.shape[1:])}, teacher "
                             f"feature {ti} {tuple(t.shape[1:])}: pair feature maps with feature maps")
            self.projections.append(_projection(int(s.shape[1]), int(t.shape[1]), s.dim()))
        self.projections.to(probe.device)

    # -- per step ------------------------------------------------------------------------
    def to(self, device: torch.device, memory_format: torch.memory_format = torch.contiguous_format) -> "Distiller":
        self.teacher.to(device, memory_format=memory_format)
        self.projections.to(device, memory_format=memory_format)
        return self

    def mix(self, task_loss: torch.Tensor, student_out: Any, images: torch.Tensor, targets: dict) -> torch.Tensor:
        """``(1 - weight) * task_loss + weight * distill`` for the batch the student just ran on."""
        with torch.no_grad():
            teacher_out = self.teacher(images)
        terms: dict[str, torch.Tensor] = {}
        if self.use_logits:
            terms["kd"] = self.logits_loss(_main(student_out), _main(teacher_out), targets)
        if self.use_features:
            terms["feat"] = self.features_loss()
        distill = sum(terms.values())
        w = self.config.weight
        self.last = {"task": float(task_loss.detach()), **{k: float(v.detach()) for k, v in terms.items()}}
        return (1.0 - w) * task_loss + w * distill

    def logits_loss(self, student: torch.Tensor, teacher: torch.Tensor, targets: dict) -> torch.Tensor:
        # lazy: layer (README map: training/ may not import teacher)
        from nptrain.teacher import check_logit_shape

        check_logit_shape(student, teacher)
        if student.dim() == 4:
            return segmentation_kd_loss(student, teacher, self.config.temperature, targets.get("masks"),
                                        self.ignore_index)
        return kd_logits_loss(student, teacher, self.config.temperature)

    def features_loss(self) -> torch.Tensor:
        s_feats, t_feats = self._student_capture.take(), self._teacher_capture.take()
        total = 0.0
        for (si, ti), proj in zip(self.pairs, self.projections):
            s, t = proj(s_feats[si]).float(), t_feats[ti].float()
            if s.dim() == 4 and s.shape[-2:] != t.shape[-2:]:
                s = F.interpolate(s, size=t.shape[-2:], mode="bilinear", align_corners=False)
            total = total + F.mse_loss(s, t)
        return total / len(self.pairs)

    # -- optimizer, DDP, resume ----------------------------------------------------------
    def parameters(self) -> list[nn.Parameter]:
        return list(self.projections.parameters())

    def add_to_optimizer(self, optimizer: torch.optim.Optimizer, lr: float, weight_decay: float) -> None:
        """The projections train with the student (the optimizer's base LR and weight decay, same schedule)."""
        params = self.parameters()
        if params:
            optimizer.add_param_group({"params": params, "names": [f"distill.{n}" for n, _ in self.projections.named_parameters()],
                                       "lr": lr, "initial_lr": lr, "weight_decay": weight_decay})

    def sync_grads(self, world_size: int) -> None:
        """Average the projections' gradients over ranks (they live outside DistributedDataParallel)."""
        if world_size <= 1:
            return
        import torch.distributed as tdist

        for p in self.parameters():
            if p.grad is not None:
                tdist.all_reduce(p.grad)
                p.grad /= world_size

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu() for k, v in self.projections.state_dict().items()}

    def load_state_dict(self, state: Optional[dict[str, torch.Tensor]], source: str) -> None:
        if state is None:
            if self.parameters():
                raise UserError(f"{source}: training.distillation has feature projections but the training state has "
                                "none (was it saved without distillation?)")
            return
        try:
            self.projections.load_state_dict(state)
        except RuntimeError as exc:
            raise UserError(f"{source}: the distillation projections do not fit ({str(exc).splitlines()[0][:200]})") from None

    def close(self) -> None:
        """Remove the feature hooks (a Distiller built for a one-off check)."""
        for capture in (self._student_capture, self._teacher_capture):
            if capture is not None:
                capture.handle.remove()

    def header(self) -> str:
        parts = [f"kind {self.kind}", f"weight {self.config.weight:g}"]
        if self.use_logits:
            parts.append(f"temperature {self.config.temperature:g}")
        if self.use_features:
            made = sum(not isinstance(p, nn.Identity) for p in self.projections)
            parts.append(f"feature pairs {self.pairs} ({made} 1x1 projection{'s' if made != 1 else ''})")
        return ", ".join(parts)


def _main(out: Any) -> torch.Tensor:
    return out["pred"] if isinstance(out, dict) else out
