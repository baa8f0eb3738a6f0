"""``training.ema``: an exponential moving average of the weights, used for validation and export.

``constant_decay`` uses ``decay`` throughout; ``exp_decay`` ramps it up as
``decay * (1 - exp(-updates / beta))`` so early, poor weights fade quickly.
Buffers (BatchNorm statistics) are copied, not averaged.
"""
from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn


class ModelEMA:
    def __init__(self, model: nn.Module, config: Any) -> None:
        """``config``: the ``training.ema`` record (``name``, ``decay``, ``beta``) from ``load_config``."""
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.config = config
        self.updates = 0
        self._param_names = {n for n, _ in self.module.named_parameters()}

    def decay(self) -> float:
        if self.config.name == "constant_decay":
            return self.config.decay
        return self.config.decay * (1 - math.exp(-self.updates / self.config.beta))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = self.decay()
        src = model.state_dict()
        for k, v in self.module.state_dict().items():
            if v.dtype.is_floating_point and k in self._param_names:
                v.mul_(d).add_(src[k].detach(), alpha=1 - d)
            else:
                v.copy_(src[k])

    def state_dict(self) -> dict:
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])
