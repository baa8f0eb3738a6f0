"""The metric interface every task's metric implements (``TaskRecord.metric`` builds one).

A leaf module (torch only) so a task's metric, built-in or a plugin's, never imports the training
package, and the training engine never imports a task's package.
"""
from __future__ import annotations

from typing import Any, Optional

import torch


class Metric:
    names: list[str]
    primary: str
    higher_is_better = True

    def update(self, logits: torch.Tensor, target: dict[str, torch.Tensor], loss: float) -> None:
        raise NotImplementedError

    def state(self) -> torch.Tensor:
        raise NotImplementedError

    def load(self, state: torch.Tensor) -> None:
        raise NotImplementedError

    def compute(self) -> dict[str, float]:
        raise NotImplementedError

    def details(self, classes: list[str]) -> dict[str, Any]:
        """Per-class results for summary.json and ``nptrain evaluate`` (none by default)."""
        return {}

    def table(self, classes: list[str]) -> str:
        """The per-class results as a printable table ("" when the task has none)."""
        return self.format_details(self.details(classes))

    def format_details(self, details: dict[str, Any]) -> str:
        """A printable table of :meth:`details` output (also of a saved ``best`` record)."""
        return ""

    def confusion(self) -> Optional[torch.Tensor]:
        """``(C, C)`` counts, rows = true class, columns = predicted (None: the task has none)."""
        return None

    def reduce(self) -> None:
        """Sum the state over all ranks (no-op without torch.distributed)."""
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            state = self.state().clone()
            dist.all_reduce(state)
            self.load(state)
