"""How far into an epoch a run got: what a resume point saved mid-epoch holds besides the usual state.

Batches are a pure function of (seed, epoch) and the learning rate of the step counter, so continuing an
epoch at step ``k`` needs only the model/optimizer/RNG state (the usual training state) plus this: the step,
the epoch's running loss sums and sample count (so its row in results.csv is the uninterrupted run's), and the
seconds already spent (so its img/s stays honest). Under DDP every rank has its own sums: the state holds one
entry per rank and a resume needs the same number of processes.
"""
from __future__ import annotations

from typing import Any, Optional

import attrs

from nptrain.errors import UserError


@attrs.define
class EpochProgress:
    epoch: int  # 0-based epoch this progress belongs to
    step: int = 0  # batches of the epoch already trained
    sums: dict[str, float] = attrs.Factory(dict)  # per-sample sums of each logged loss
    seen: int = 0
    elapsed: float = 0.0  # seconds of training in this epoch before the resume point
    lr: float = 0.0

    def add(self, losses: dict[str, float], batch: int) -> None:
        for key, value in losses.items():
            self.sums[key] = self.sums.get(key, 0.0) + value * batch
        self.seen += batch

    def to_state(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "step": self.step, "sums": dict(self.sums), "seen": self.seen,
                "elapsed": float(self.elapsed), "lr": float(self.lr)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "EpochProgress":
        return cls(epoch=int(state["epoch"]), step=int(state["step"]), sums={str(k): float(v) for k, v in state["sums"].items()},
                   seen=int(state["seen"]), elapsed=float(state["elapsed"]), lr=float(state["lr"]))


def gather_objects(mine: Any, world_size: int) -> list[Any]:
    """Every rank's ``mine`` (picklable plain data), in rank order (a collective under DDP)."""
    if world_size <= 1:
        return [mine]
    # lazy: distributed
    import torch.distributed as tdist

    out: list[Any] = [None] * world_size
    tdist.all_gather_object(out, mine)
    return out


def for_rank(saved: Optional[list[dict[str, Any]]], rank: int, world_size: int, path: str) -> Optional[EpochProgress]:
    """This rank's progress from a resume point's ``progress`` list (None: the state ends at an epoch)."""
    if not saved:
        return None
    if len(saved) != world_size:
        raise UserError(f"{path}: saved in the middle of an epoch by {len(saved)} process(es); resume it with "
                        f"the same number (--nproc {len(saved)}), or from a state saved at an epoch's end")
    return EpochProgress.from_state(saved[rank])
