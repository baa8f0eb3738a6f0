"""The ``training`` section: epochs, optimizer, scheduler and EMA as typed records.

``optimizer`` and ``scheduler`` are picked by their ``name`` (``training.optimizer.name: adamw``);
the chosen class takes the rest of the mapping, so an unknown field, a wrong type or a value out of
range is reported at its line when the config is loaded, before anything runs. The training code
receives these records and never parses config itself. Field names follow NetsPresso Trainer.
"""
from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

import attrs

from nptrain.config.distillation_section import DistillationConfig
from nptrain.config.hook_kit import register_tagged
from nptrain.config.ranges import NonNegativeFloat, PositiveFloat, PositiveInt, Probability, Range
from nptrain.config.distillation_section import register_distillation_hooks

Part = Literal["backbone", "neck", "head"]
# Adam's beta1/beta2: each in [0, 1) (torch rejects 1.0), exactly two
Betas = Annotated[list[Annotated[float, Range(ge=0, lt=1)]], Range(length=2)]


@attrs.define(kw_only=True)
class GroupOverwrite:
    """``optimizer.overwrite[]``: other settings for the parameters of one model part."""

    param_group: Part
    lr: Optional[NonNegativeFloat] = None
    weight_decay: Optional[NonNegativeFloat] = None
    no_bias_decay: Optional[bool] = None
    no_norm_weight_decay: Optional[bool] = None


@attrs.define(kw_only=True)
class _OptimizerBase:
    lr: NonNegativeFloat = 1e-3
    weight_decay: NonNegativeFloat = 0.0
    no_bias_decay: bool = False
    no_norm_weight_decay: bool = False
    overwrite: list[GroupOverwrite] = attrs.Factory(list)


@attrs.define(kw_only=True)
class SGD(_OptimizerBase):
    name: Literal["sgd"] = "sgd"
    lr: NonNegativeFloat = 0.01
    momentum: NonNegativeFloat = 0.9
    nesterov: bool = False


@attrs.define(kw_only=True)
class Adam(_OptimizerBase):
    name: Literal["adam"] = "adam"
    betas: Betas = attrs.Factory(lambda: [0.9, 0.999])
    eps: NonNegativeFloat = 1e-8


@attrs.define(kw_only=True)
class AdamW(_OptimizerBase):
    name: Literal["adamw"] = "adamw"
    betas: Betas = attrs.Factory(lambda: [0.9, 0.999])
    eps: NonNegativeFloat = 1e-8
    weight_decay: NonNegativeFloat = 0.05


@attrs.define(kw_only=True)
class RMSprop(_OptimizerBase):
    name: Literal["rmsprop"] = "rmsprop"
    lr: NonNegativeFloat = 0.01
    alpha: NonNegativeFloat = 0.99
    momentum: NonNegativeFloat = 0.0
    eps: NonNegativeFloat = 1e-8


OPTIMIZERS: dict[str, type] = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}
OptimizerConfig = Union[SGD, Adam, AdamW, RMSprop]


@attrs.define(kw_only=True)
class _SchedulerBase:
    warmup_epochs: NonNegativeFloat = 0.0  # linear warm-up from 0
    warmup_bias_lr: NonNegativeFloat = 0.0  # accepted for compatibility; warm-up starts every group at 0
    min_lr: NonNegativeFloat = 0.0
    end_epoch: Optional[PositiveInt] = None  # None: training.epochs
    step_per: Literal["iteration", "epoch"] = "iteration"


@attrs.define(kw_only=True)
class CosineNoSGDR(_SchedulerBase):
    name: Literal["cosine_no_sgdr"] = "cosine_no_sgdr"


@attrs.define(kw_only=True)
class Poly(_SchedulerBase):
    name: Literal["poly"] = "poly"
    power: NonNegativeFloat = 1.0


@attrs.define(kw_only=True)
class Step(_SchedulerBase):
    name: Literal["step"] = "step"
    iters_per_phase: PositiveInt = 30  # in epochs, as in the reference
    gamma: NonNegativeFloat = 0.1


@attrs.define(kw_only=True)
class MultiStep(_SchedulerBase):
    name: Literal["multi_step"] = "multi_step"
    milestones: list[Annotated[int, Range(ge=0)]] = attrs.Factory(list)  # epochs
    gamma: NonNegativeFloat = 0.1


SCHEDULERS: dict[str, type] = {"cosine_no_sgdr": CosineNoSGDR, "poly": Poly, "step": Step, "multi_step": MultiStep}
SchedulerConfig = Union[CosineNoSGDR, Poly, Step, MultiStep]


@attrs.define(kw_only=True)
class EMAConfig:
    """``training.ema``: ``constant_decay`` uses ``decay`` throughout; ``exp_decay`` ramps it up as
    ``decay * (1 - exp(-updates / beta))``."""

    name: Literal["constant_decay", "exp_decay"] = "exp_decay"
    decay: Probability = 0.9999
    beta: PositiveFloat = 2000.0


@attrs.define(kw_only=True)
class EarlyStoppingConfig:
    """``training.early_stopping``: stop when the best-model criterion (``logging.model_save_options.
    best_model_criterion``) has not improved by more than ``min_delta`` for ``patience`` epochs."""

    patience: PositiveInt = 10
    min_delta: NonNegativeFloat = 0.0


@attrs.define(kw_only=True)
class TrainingConfig:
    epochs: PositiveInt = 10
    optimizer: OptimizerConfig = attrs.Factory(lambda: AdamW(lr=1e-3, weight_decay=0.05))
    scheduler: SchedulerConfig = attrs.Factory(CosineNoSGDR)
    max_norm: Optional[PositiveFloat] = None  # gradient clipping (None: off)
    ema: Optional[EMAConfig] = None  # None (or {}): off
    # "auto": bf16 autocast on a CPU with native bf16 (AMX / AVX512-BF16), float32 elsewhere; true: bf16
    # autocast on any CPU (emulated without native bf16: slower), float16 + gradient scaler on CUDA;
    # false: float32. See nptrain.training.precision and docs/training.md#speed.
    mixed_precision: Union[bool, Literal["auto"]] = "auto"
    distillation: Optional[DistillationConfig] = None  # None: off (docs/training.md#distillation)
    # None: train every epoch; else stop early (the run still writes its summary and exports)
    early_stopping: Optional[EarlyStoppingConfig] = None


def register_training_hooks(conv) -> None:
    """Teach ``conv`` to pick the optimizer and scheduler class by ``name``."""
    register_tagged(conv, OptimizerConfig, OPTIMIZERS, "optimizer")
    register_tagged(conv, SchedulerConfig, SCHEDULERS, "scheduler")

    register_distillation_hooks(conv)
