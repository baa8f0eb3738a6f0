"""``environment.threads``: how many threads a training process computes with, and a note when
other processes make training much slower than this machine has shown it can be.

``auto`` (the default) is ``OMP_NUM_THREADS`` when the environment sets it, else the number of
physical cores this process may run on (``os.sched_getaffinity``; SMT siblings count once, as they
share one core's vector units), divided among the ranks of a multi-process run, less the whole CPUs
that other processes keep busy in a 0.2 s sample taken at start-up (at least 1). On a shared machine a thread pool larger than the free cores
does not just share them: each step waits for its slowest thread, so a 2-thread step with one core
taken runs several times slower than a 1-thread step (docs/benchmarks.md has the figures).

Spinning: OpenMP worker threads by default spin-wait after each parallel region, burning the CPU
another process needs. ``nptrain run`` sets ``OMP_WAIT_POLICY=PASSIVE`` (unless the environment
already sets it) before torch loads, since OpenMP reads it only once at start-up.
"""
from __future__ import annotations

import os
import time
from typing import Optional, Union

import attrs

# set before torch is imported (OpenMP reads these once, when it loads); a user's own values win
SPIN_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}


def set_spin_env(environ: Optional[dict] = None) -> list[str]:
    """Apply :data:`SPIN_ENV` to ``environ`` (default ``os.environ``) where unset; the names set."""
    env = os.environ if environ is None else environ
    done = []
    for key, value in SPIN_ENV.items():
        if key not in env:
            env[key] = value
            done.append(key)
    return done


def usable_cpus() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return list(range(os.cpu_count() or 1))


def physical_cores(cpus: Optional[list[int]] = None, sysfs: str = "/sys/devices/system/cpu") -> int:
    """Distinct (package, core) pairs among ``cpus``; the CPU count where topology is not readable."""
    cpus = usable_cpus() if cpus is None else cpus
    cores = set()
    for cpu in cpus:
        try:
            with open(f"{sysfs}/cpu{cpu}/topology/physical_package_id", encoding="ascii") as fh:
                package = fh.read().strip()
            with open(f"{sysfs}/cpu{cpu}/topology/core_id", encoding="ascii") as fh:
                core = fh.read().strip()
        except OSError:
            return max(1, len(cpus))
        cores.add((package, core))
    return max(1, len(cores))


def busy_cpus_elsewhere(sample_s: float = 0.2) -> Optional[float]:
    """CPUs' worth of time other processes used during a ``sample_s`` pause (None off Linux)."""
    from nptrain.training.cpu_load import CpuWindow

    window = CpuWindow.start()
    time.sleep(sample_s)
    frac = window.stop()["foreign_cpu_frac"]
    return None if frac is None else frac * (os.cpu_count() or 1)


@attrs.frozen
class ThreadChoice:
    threads: int
    why: str


def choose_threads(setting: Union[int, str], *, ranks_here: int = 1, busy: Optional[float] = None,
                   cores: Optional[int] = None) -> ThreadChoice:
    """``environment.threads`` → a count and the header's reason; ``busy``/``cores`` override the probes."""
    if setting != "auto":
        return ThreadChoice(int(setting), "environment.threads")
    omp = os.environ.get("OMP_NUM_THREADS", "")
    if omp.isdigit() and int(omp) > 0:  # the process was told already (a test runner, a batch system)
        return ThreadChoice(int(omp), "auto: OMP_NUM_THREADS")
    cores = physical_cores() if cores is None else cores
    share = max(1, cores // max(1, ranks_here))
    why = f"auto: {cores} physical core{'s' if cores != 1 else ''}" + (f" / {ranks_here} ranks" if ranks_here > 1 else "")
    if share > 1:
        busy = busy_cpus_elsewhere() if busy is None else busy
        taken = int(round(busy or 0.0))
        if taken:
            share = max(1, share - taken)
            why += f", {taken} kept busy by other processes"
    return ThreadChoice(share, why)


def apply_threads(choice: ThreadChoice) -> None:
    import torch

    torch.set_num_threads(choice.threads)


@attrs.define
class ContentionWatch:
    """Collects per-step times; after an epoch, :meth:`note` says once per run when the epoch's
    median step ran ``factor`` times slower than the fastest step seen so far while other processes
    took a large share of the machine (the fastest step is this machine's own estimate of its speed)."""

    factor: float = 2.5
    min_foreign: float = 0.25
    fastest: Optional[float] = None
    steps: list = attrs.Factory(list)
    said: bool = False

    def step(self, seconds: float, first_of_epoch: bool) -> None:
        if not first_of_epoch:  # the first step of an epoch waits for the loader and warms caches
            self.steps.append(seconds)
            self.fastest = seconds if self.fastest is None else min(self.fastest, seconds)

    def note(self, epoch: int, foreign_cpu_frac: Optional[float], threads: int) -> Optional[str]:
        steps, self.steps = sorted(self.steps), []
        if self.said or not steps or self.fastest is None or foreign_cpu_frac is None:
            return None
        median = steps[len(steps) // 2]
        slower = median / max(self.fastest, 1e-9)
        if slower < self.factor or foreign_cpu_frac < self.min_foreign:
            return None
        self.said = True
        hint = "environment.threads=1 is often faster on a shared machine" if threads > 1 else \
            "timings from this run are not representative"
        return (f"note: epoch {epoch} steps ran {slower:.1f}x slower than this machine's fastest step while other "
                f"processes used {foreign_cpu_frac:.0%} of the CPU; {hint}")
