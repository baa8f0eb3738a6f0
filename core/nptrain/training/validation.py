"""The validation pass of a run (``evaluate``, also used by ``nptrain evaluate`` and artifact evaluation) and the
progress bars of both loops."""
from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torch import nn

from nptrain.data.loader import iterate
from nptrain.training.metrics import Metric
from nptrain.training.setup import loss_targets, main_output, to_cpu


def _progress(iterable, total: int, desc: str, enabled: bool):
    if not enabled:
        return iterable
    # lazy: tqdm
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True)


def bar(total: int, initial: int, desc: str, enabled: bool):
    """A progress bar the loop advances itself (a resumed epoch starts at its step), or None."""
    if not enabled:
        return None
    # lazy: tqdm
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, leave=False, dynamic_ncols=True)


class ValidationAbandoned(Exception):
    """``evaluate``'s ``stop`` said to stop (a signal): the caller saves the epoch's training and stops."""


@torch.no_grad()
def evaluate(model: nn.Module, loader, criterion: nn.Module, metric: Metric, task: Any, device: torch.device,
             show: bool = False, memory_format: torch.memory_format = torch.contiguous_format,
             stop: Optional[Callable[[], bool]] = None) -> dict[str, float]:
    """Metrics of ``model`` on ``loader`` (its shard), reduced over ranks; ``task`` is the TaskRecord.
    ``stop`` (single process only: shards differ in length) is asked after each batch."""
    model.eval()
    for images, target in _progress(iterate(loader), len(loader), "valid", show):
        if stop is not None and stop():
            raise ValidationAbandoned
        images = images.to(device, non_blocking=True, memory_format=memory_format)
        targets = loss_targets(task, target, device)
        out = model(images)
        loss = float(criterion(out, targets))
        metric.update(main_output(out).float().cpu(), {k: to_cpu(v) for k, v in targets.items()}, loss)
    metric.reduce()
    return metric.compute()
