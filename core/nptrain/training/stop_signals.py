"""SIGINT and SIGTERM while a run trains: stop at the next step boundary with everything saved.

Schedulers, ``docker stop``, Kubernetes and SLURM send SIGTERM some seconds before SIGKILL; a terminal sends
SIGINT. Either one sets a flag that the training loop reads after each step (and the validation loop after each
batch); the loop then saves a resume point and raises :class:`~nptrain.errors.RunInterrupted` (exit 130 / 143).
Under DDP the ranks agree on the flag each step (one tiny all-reduce), so all stop after the same step and
rank 0 writes. A second signal exits at once, by the signal's default action.

Ctrl-C under ``--nproc`` reaches each rank twice (from the terminal's process group and forwarded by torchrun's
agent): a repeat within :data:`REPEAT_S` of the first is the same request, not the second one.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any, Callable, Optional

import torch

REPEAT_S = 1.0
FAULT = 1000  # StopSignals.agree's code for "a rank could not fetch its batch": above every signal number
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """Installed for the length of ``Trainer.fit``; handlers are restored by :meth:`uninstall`."""

    def __init__(self) -> None:
        self.signum: Optional[int] = None
        self.first_at = 0.0
        self.raise_now: Optional[Callable[[int], BaseException]] = None  # set while nothing is left to save
        self._old: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():  # Python handles signals there only
            return
        for sig in SIGNALS:
            self._old[sig] = signal.getsignal(sig)
            signal.signal(sig, self._handle)

    def uninstall(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()

    def _handle(self, signum: int, _frame: Any) -> None:
        now = time.monotonic()
        if self.signum is None:
            self.signum, self.first_at = signum, now
            if self.raise_now is not None:
                raise self.raise_now(signum)
            return
        if now - self.first_at < REPEAT_S:  # the same Ctrl-C delivered twice (terminal + torchrun's agent)
            return
        # the second request: the default action, at once (a SIGINT or SIGTERM death, as the shell expects)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    def agree(self, world_size: int = 1, fault: bool = False) -> int:
        """0 to go on; else why to stop: :data:`FAULT` when this rank (or, under DDP, any rank) could not
        fetch its batch, else the signal number. Under DDP a collective every rank calls at the same point:
        one tiny all-reduce per step."""
        code = FAULT if fault else (self.signum or 0)
        if world_size <= 1:
            return code
        # lazy: distributed
        import torch.distributed as tdist

        flag = torch.tensor([float(code)])
        tdist.all_reduce(flag, op=tdist.ReduceOp.MAX)
        return int(flag.item())


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
