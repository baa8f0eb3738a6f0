"""``environment.threads``: how many threads a training process computes with, and a note when
other processes make training much slower than this machine has shown it can be.

``auto`` (the default) is ``OMP_NUM_THREADS`` when the environment sets it, else the number of
physical cores this process may run on (``os.sched_getaffinity``; SMT siblings count once, as they
share one core's vector units), divided among the ranks of a multi-process run.

It does not shrink when other processes are busy: with the passive wait policy below, two threads
on a 2-core machine that others load heavily still trained the quickstart 3.8x faster than one
thread (docs/benchmarks.md#threads-on-a-busy-machine). What collapses under load is spinning.

Spinning: OpenMP worker threads by default spin-wait after each parallel region, burning the CPU
another process needs. ``nptrain run`` sets ``OMP_WAIT_POLICY=PASSIVE`` (unless the environment
already sets it) before torch loads, since OpenMP reads it only once at start-up; ``nptrain.train``
does the same when torch is not imported yet. Where it was (a notebook or script that imported torch
first), nothing can change the policy any more: :func:`spin_env_note` tells the user how to.
"""
from __future__ import annotations

import os
from typing import Mapping, Optional, Union

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


def spin_env_note(threads: int, environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The note for a run on more than one thread while ``OMP_WAIT_POLICY`` is unset in ``environ``
    (default ``os.environ``), else None. ``nptrain run`` and ``nptrain.train`` both set it whenever
    torch is not loaded yet (:func:`set_spin_env`), so unset here means torch was imported before
    nptrain could, and its threads spin. (Set after torch loaded, it has no effect and no note: that
    cannot be seen from here.)"""
    env = os.environ if environ is None else environ
    if threads <= 1 or "OMP_WAIT_POLICY" in env:
        return None
    return (f"note: torch was imported before nptrain could set OMP_WAIT_POLICY, so this run's {threads} threads "
            "spin-wait, which slows it and the other processes on a shared machine; there, set "
            "OMP_WAIT_POLICY=PASSIVE in the environment before importing torch (docs/training.md#speed)")


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


@attrs.frozen
class ThreadChoice:
    threads: int
    why: str


def choose_threads(setting: Union[int, str], *, ranks_here: int = 1, cores: Optional[int] = None) -> ThreadChoice:
    """``environment.threads`` → a count and the header's reason; ``cores`` overrides the probe."""
    if setting != "auto":
        return ThreadChoice(int(setting), "environment.threads")
    omp = os.environ.get("OMP_NUM_THREADS", "")
    if omp.isdigit() and int(omp) > 0:  # the process was told already (a test runner, torchrun, a batch system)
        return ThreadChoice(int(omp), "auto: OMP_NUM_THREADS")
    cores = physical_cores() if cores is None else cores
    share = max(1, cores // max(1, ranks_here))
    why = f"auto: {cores} physical core{'s' if cores != 1 else ''}" + (f" / {ranks_here} ranks" if ranks_here > 1 else "")
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
        spinning = threads > 1 and os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE"
        hint = ("OMP_WAIT_POLICY is not PASSIVE: spinning threads collapse under load" if spinning
                else "this run's img/s figures say little about this machine")
        return (f"note: epoch {epoch} steps ran {slower:.1f}x slower than this machine's fastest step while other "
                f"processes used {foreign_cpu_frac:.0%} of the CPU; {hint}")
