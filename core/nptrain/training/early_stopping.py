"""``training.early_stopping``: whether a run should stop because its best-model criterion stopped improving.

A pure function of the run's history (the ``valid_*`` values of the epochs that validated), so a resumed run
reaches the same decision with nothing extra saved, and a run that stopped early stays stopped on ``--resume``
unless ``patience`` is raised.
"""
from __future__ import annotations

from typing import Any, Optional


def early_stop_reason(history: list[dict[str, Any]], key: str, lower_wins: bool, patience: int,
                      min_delta: float) -> Optional[str]:
    """Why to stop after the last row of ``history``, or None. An epoch counts as an improvement when its
    ``key`` beats the last improving value by more than ``min_delta``; the run stops when ``patience``
    epochs have passed since then."""
    ref: Optional[float] = None
    ref_epoch = 0
    last_epoch = 0
    for row in history:
        value = row.get(key)
        if value is None:  # an epoch that did not validate
            continue
        last_epoch = int(row["epoch"])
        better = ref is None or (value < ref - min_delta if lower_wins else value > ref + min_delta)
        if better:
            ref, ref_epoch = float(value), last_epoch
    if ref is None or last_epoch - ref_epoch < patience:
        return None
    by = f" by more than {min_delta:g}" if min_delta else ""
    return (f"{key[6:]} has not improved{by} for {last_epoch - ref_epoch} epochs (patience {patience}; "
            f"{ref:.4f} at epoch {ref_epoch})")
