"""The speed settings of one training process, decided once at start-up and named in one header
line: threads (:mod:`.threads`), arithmetic (:mod:`.precision`), memory format
(:mod:`.memory_format`) and ``torch.compile``."""
from __future__ import annotations

from typing import Any, Callable

import attrs
import torch
from torch import nn

from nptrain.config.loader import LoadedConfig
from nptrain.training.memory_format import choose_memory_format
from nptrain.training.precision import Precision, choose_precision
from nptrain.training.threads import ThreadChoice, apply_threads, choose_threads, spin_env_note


@attrs.define
class Speed:
    threads: ThreadChoice
    precision: Precision
    memory_format: torch.memory_format
    memory_format_why: str
    compile: bool

    def header(self) -> str:
        return (f"speed: {self.precision.describe}; {self.memory_format_why}; "
                f"{self.threads.threads} thread{'s' if self.threads.threads != 1 else ''} ({self.threads.why})"
                + ("; torch.compile (the first steps compile)" if self.compile else ""))

    def training_module(self, module: nn.Module) -> nn.Module:
        """What the training steps call: ``module`` itself, or its compiled form (sharing its parameters)."""
        if not self.compile:
            return module
        return torch.compile(module)


def configure_speed(loaded: LoadedConfig, device: torch.device, *, ranks_here: int = 1,
                    plugins: Any = None, log: Callable[[str], None] = print) -> Speed:
    """Decide and apply (threads) the speed settings; log the header line, and on a CPU a note when
    torch loaded with its threads spinning (:func:`~nptrain.training.threads.spin_env_note`)."""
    env, tr = loaded.run.environment, loaded.run.training
    threads = choose_threads(env.threads, ranks_here=ranks_here)
    if device.type == "cpu":
        apply_threads(threads)
    fmt, why = choose_memory_format(loaded, plugins)
    speed = Speed(threads, choose_precision(tr.mixed_precision, device), fmt, why, bool(env.compile))
    log(speed.header())
    spin_note = spin_env_note(threads.threads) if device.type == "cpu" else None
    if spin_note:
        log(spin_note)
    return speed
