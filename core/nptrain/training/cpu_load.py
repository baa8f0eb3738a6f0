"""How busy the machine is: the share of all CPUs taken by other processes during a time window.

Reads ``/proc/stat`` (the whole machine) and ``/proc/self/stat`` + children (this process and its
loader workers), so it only works on Linux; elsewhere every figure is ``None``. Used by the engine's
contention note and by ``bench/`` to label measurements taken on a shared machine.
"""
from __future__ import annotations

import os
import resource
import time
from typing import Optional

import attrs


def _machine_busy_s() -> Optional[float]:
    """Seconds of CPU time all CPUs spent busy (not idle or iowait) since boot."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = fh.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(v) for v in fields[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice; guest time is inside user already
    busy = sum(ticks[:8]) - ticks[3] - ticks[4]
    return busy / os.sysconf("SC_CLK_TCK")


def _own_cpu_s() -> float:
    """CPU seconds of this process and its reaped children, plus its live children from /proc."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    total = own.ru_utime + own.ru_stime
    done = resource.getrusage(resource.RUSAGE_CHILDREN)
    total += done.ru_utime + done.ru_stime
    return total + _live_children_s()


def _live_children_s() -> float:
    # loader workers are live children for the whole epoch; getrusage counts them only once reaped
    try:
        with open(f"/proc/{os.getpid()}/task/{os.getpid()}/children", encoding="ascii") as fh:
            pids = fh.read().split()
    except OSError:
        return 0.0
    tck = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
                rest = fh.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += (int(rest[11]) + int(rest[12])) / tck  # utime, stime
    return total


@attrs.define
class CpuWindow:
    """Start with :meth:`start`; :meth:`stop` gives the foreign share of the machine over the window."""

    wall0: float = 0.0
    busy0: Optional[float] = None
    own0: float = 0.0

    @classmethod
    def start(cls) -> "CpuWindow":
        return cls(time.perf_counter(), _machine_busy_s(), _own_cpu_s())

    def stop(self) -> dict[str, Optional[float]]:
        """``foreign_cpu_frac``: CPU time of other processes over (wall time x CPUs available to us);
        ``own_cpu_per_wall``: our CPU seconds per wall second (about the threads actually running)."""
        wall = max(time.perf_counter() - self.wall0, 1e-9)
        own = _own_cpu_s() - self.own0
        busy = _machine_busy_s()
        foreign = None
        if busy is not None and self.busy0 is not None:
            cpus = os.cpu_count() or 1
            foreign = max(0.0, min(1.0, (busy - self.busy0 - own) / (wall * cpus)))
        return {"wall_s": wall, "foreign_cpu_frac": foreign, "own_cpu_per_wall": own / wall}
