"""``training.optimizer`` and ``training.scheduler``: parameter groups, optimizer and LR schedule.

The configs arrive as typed records from ``load_config`` (``nptrain.config.training_section``), their
ranges already checked; this module only builds from them (by their ``name``).

Parameter groups are built by walking ``named_parameters()`` in order (never sets or dicts keyed
by tensors) so the optimizer state layout is identical in every process and on every resume.

Schedules are pure functions of fractional epoch progress ``t`` and are applied by the engine before
each optimizer step: ``step_per: iteration`` (default) updates the LR every iteration with
``t = epoch + i / iters_per_epoch``; ``step_per: epoch`` keeps it constant within an epoch
(``t = epoch``). Warmup is linear from 0 over ``warmup_epochs``. Being stateless, the schedule needs
nothing but the epoch counter to resume.
"""
from __future__ import annotations

import math
from typing import Any, Optional

import torch
from torch import nn

from nptrain.errors import UserError

NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)


def _norm_param_names(model: nn.Module) -> set[str]:
    out = set()
    for mname, mod in model.named_modules():
        if isinstance(mod, NORM_TYPES) or "norm" in type(mod).__name__.lower():
            for pname, _ in mod.named_parameters(recurse=False):
                out.add(f"{mname}.{pname}" if mname else pname)
    return out


def param_groups(model: nn.Module, opt: Any) -> list[dict[str, Any]]:
    """Groups keyed by (overwrite entry, decays?) in order of first appearance in ``named_parameters``."""
    overwrites = {o.param_group: o for o in opt.overwrite}
    if overwrites and not any(n.startswith(("backbone.", "head.")) for n, _ in model.named_parameters()):
        raise UserError("training.optimizer.overwrite needs a backbone/neck/head model (not a full model)")
    norm_names = _norm_param_names(model)
    groups: dict[tuple, dict[str, Any]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        part = name.split(".", 1)[0]
        ow = overwrites.get(part)
        lr = ow.lr if ow and ow.lr is not None else opt.lr
        wd = ow.weight_decay if ow and ow.weight_decay is not None else opt.weight_decay
        nbd = ow.no_bias_decay if ow and ow.no_bias_decay is not None else opt.no_bias_decay
        nnd = ow.no_norm_weight_decay if ow and ow.no_norm_weight_decay is not None else opt.no_norm_weight_decay
        if (nbd and name.endswith("bias")) or (nnd and name in norm_names and not name.endswith("bias")):
            wd = 0.0
        key = (part if ow else "", lr, wd)
        group = groups.setdefault(key, {"params": [], "names": [], "lr": lr, "initial_lr": lr, "weight_decay": wd})
        group["params"].append(p)
        group["names"].append(name)
    return list(groups.values())


def build_optimizer(model: nn.Module, opt: Any) -> torch.optim.Optimizer:
    groups = param_groups(model, opt)
    if not groups:
        raise UserError("no trainable parameters (is everything frozen?)")
    if opt.name == "sgd":
        return torch.optim.SGD(groups, lr=opt.lr, momentum=opt.momentum, nesterov=opt.nesterov)
    # the fused Adam(W) kernel updates every tensor in one pass: 1.3x faster optimizer steps than the
    # per-tensor loop on CPU (docs/benchmarks.md), the same results to float rounding
    fused = _can_fuse(groups)
    if opt.name == "adamw":
        return torch.optim.AdamW(groups, lr=opt.lr, betas=tuple(opt.betas), eps=opt.eps, fused=fused)
    if opt.name == "adam":
        return torch.optim.Adam(groups, lr=opt.lr, betas=tuple(opt.betas), eps=opt.eps, fused=fused)
    if opt.name == "rmsprop":
        return torch.optim.RMSprop(groups, lr=opt.lr, alpha=opt.alpha, momentum=opt.momentum, eps=opt.eps)
    raise AssertionError(f"optimizer {opt.name!r} has no builder")  # load_config admits only the names above


def lr_factor(sched: Any, t: float, epochs: int, base_lr: float) -> float:
    """LR of a group whose configured LR is ``base_lr`` at fractional epoch ``t``."""
    if sched.step_per == "epoch":
        t = math.floor(t)
    end = sched.end_epoch or epochs
    if sched.warmup_epochs > 0 and t < sched.warmup_epochs:
        return base_lr * (t / sched.warmup_epochs)
    if sched.name in ("cosine_no_sgdr", "poly"):
        span = max(end - sched.warmup_epochs, 1e-12)
        progress = min(max((t - sched.warmup_epochs) / span, 0.0), 1.0)
        decay = 0.5 * (1 + math.cos(math.pi * progress)) if sched.name == "cosine_no_sgdr" else (1 - progress) ** sched.power
        return sched.min_lr + (base_lr - sched.min_lr) * decay
    if sched.name == "step":
        return max(sched.min_lr, base_lr * sched.gamma ** math.floor(t / sched.iters_per_phase))
    if sched.name == "multi_step":
        return max(sched.min_lr, base_lr * sched.gamma ** sum(1 for m in sched.milestones if t >= m))
    raise AssertionError(f"scheduler {sched.name!r} has no schedule")  # load_config admits only the names above


def set_lr(optimizer: torch.optim.Optimizer, sched: Any, t: float, epochs: int) -> float:
    """Apply the schedule to every group; returns the first group's LR (for logging)."""
    for g in optimizer.param_groups:
        g["lr"] = lr_factor(sched, t, epochs, g["initial_lr"])
    return optimizer.param_groups[0]["lr"]


def _can_fuse(groups: list[dict]) -> Optional[bool]:
    """True where torch has a fused Adam kernel for every parameter (float tensors on CPU or CUDA), else
    None (torch's default implementation)."""
    params = [p for g in groups for p in g["params"]]
    ok = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return True if ok else None
