"""``training.optimizer`` and ``training.scheduler``: validated configs, parameter groups, LR schedule.

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
from typing import Any, Literal, Optional

import attrs
import torch
from torch import nn

from nptrain.config.structure import CONVERTER, structure, suggest
from nptrain.config.yaml_io import LocatedConfig
from nptrain.errors import UserError

Part = Literal["backbone", "neck", "head"]


@attrs.define(kw_only=True)
class GroupOverwrite:
    param_group: Part
    lr: Optional[float] = None
    weight_decay: Optional[float] = None
    no_bias_decay: Optional[bool] = None
    no_norm_weight_decay: Optional[bool] = None


@attrs.define(kw_only=True)
class _OptBase:
    lr: float = 1e-3
    weight_decay: float = 0.0
    no_bias_decay: bool = False
    no_norm_weight_decay: bool = False
    overwrite: list[GroupOverwrite] = attrs.Factory(list)


@attrs.define(kw_only=True)
class SGD(_OptBase):
    lr: float = 0.01
    momentum: float = 0.9
    nesterov: bool = False


@attrs.define(kw_only=True)
class Adam(_OptBase):
    betas: list[float] = attrs.Factory(lambda: [0.9, 0.999])
    eps: float = 1e-8


@attrs.define(kw_only=True)
class AdamW(Adam):
    weight_decay: float = 0.05


@attrs.define(kw_only=True)
class RMSprop(_OptBase):
    lr: float = 0.01
    alpha: float = 0.99
    momentum: float = 0.0
    eps: float = 1e-8


OPTIMIZERS: dict[str, type] = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}


@attrs.define(kw_only=True)
class _SchedBase:
    warmup_epochs: float = 0
    warmup_bias_lr: float = 0.0  # accepted for compatibility; warmup starts every group at 0
    min_lr: float = 0.0
    end_epoch: Optional[int] = None  # defaults to training.epochs
    step_per: Literal["iteration", "epoch"] = "iteration"


@attrs.define(kw_only=True)
class CosineNoSGDR(_SchedBase):
    pass


@attrs.define(kw_only=True)
class Poly(_SchedBase):
    power: float = 1.0


@attrs.define(kw_only=True)
class Step(_SchedBase):
    iters_per_phase: int = 30  # in epochs, as in the reference
    gamma: float = 0.1


@attrs.define(kw_only=True)
class MultiStep(_SchedBase):
    milestones: list[int] = attrs.Factory(list)
    gamma: float = 0.1


SCHEDULERS: dict[str, type] = {"cosine_no_sgdr": CosineNoSGDR, "poly": Poly, "step": Step, "multi_step": MultiStep}


def _parse(section: str, raw: dict[str, Any], table: dict[str, type], cfg: Optional[LocatedConfig]) -> Any:
    base = ("training", section)
    name = raw.get("name")
    if not isinstance(name, str) or name.lower() not in table:
        near = suggest(str(name), list(table))
        msg = f"unknown {section} {name!r}" + (f" (did you mean {near!r}?)" if near else f"; choose from {', '.join(table)}")
        raise cfg.error(base + ("name",), msg) if cfg else UserError(f"training.{section}.name: {msg}")
    params = {k: v for k, v in raw.items() if k != "name"}
    cls = table[name.lower()]
    if cfg is not None:
        return structure(params, cls, cfg=cfg, base=base)
    return CONVERTER.structure(params, cls)


def parse_optimizer(raw: dict[str, Any], cfg: Optional[LocatedConfig] = None) -> Any:
    return _parse("optimizer", raw, OPTIMIZERS, cfg)


def parse_scheduler(raw: dict[str, Any], cfg: Optional[LocatedConfig] = None) -> Any:
    return _parse("scheduler", raw, SCHEDULERS, cfg)


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
    if isinstance(opt, SGD):
        return torch.optim.SGD(groups, lr=opt.lr, momentum=opt.momentum, nesterov=opt.nesterov)
    if isinstance(opt, AdamW):
        return torch.optim.AdamW(groups, lr=opt.lr, betas=tuple(opt.betas), eps=opt.eps)
    if isinstance(opt, Adam):
        return torch.optim.Adam(groups, lr=opt.lr, betas=tuple(opt.betas), eps=opt.eps)
    if isinstance(opt, RMSprop):
        return torch.optim.RMSprop(groups, lr=opt.lr, alpha=opt.alpha, momentum=opt.momentum, eps=opt.eps)
    raise AssertionError(opt)


def lr_factor(sched: Any, t: float, epochs: int, base_lr: float) -> float:
    """LR of a group whose configured LR is ``base_lr`` at fractional epoch ``t``."""
    if sched.step_per == "epoch":
        t = math.floor(t)
    end = sched.end_epoch or epochs
    if sched.warmup_epochs > 0 and t < sched.warmup_epochs:
        return base_lr * (t / sched.warmup_epochs)
    if isinstance(sched, (CosineNoSGDR, Poly)):
        span = max(end - sched.warmup_epochs, 1e-12)
        progress = min(max((t - sched.warmup_epochs) / span, 0.0), 1.0)
        decay = 0.5 * (1 + math.cos(math.pi * progress)) if isinstance(sched, CosineNoSGDR) else (1 - progress) ** sched.power
        return sched.min_lr + (base_lr - sched.min_lr) * decay
    if isinstance(sched, Step):
        return max(sched.min_lr, base_lr * sched.gamma ** math.floor(t / sched.iters_per_phase))
    if isinstance(sched, MultiStep):
        return max(sched.min_lr, base_lr * sched.gamma ** sum(1 for m in sched.milestones if t >= m))
    raise AssertionError(sched)


def set_lr(optimizer: torch.optim.Optimizer, sched: Any, t: float, epochs: int) -> float:
    """Apply the schedule to every group; returns the first group's LR (for logging)."""
    for g in optimizer.param_groups:
        g["lr"] = lr_factor(sched, t, epochs, g["initial_lr"])
    return optimizer.param_groups[0]["lr"]
