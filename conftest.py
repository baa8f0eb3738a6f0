"""Repository-wide pytest setup (core, plugins and examples)."""
from __future__ import annotations

import os


def pytest_configure(config) -> None:
    # Under `pytest -n N` every worker (and every `nptrain run` subprocess a test starts) would
    # start one thread per core; the oversubscribed OpenMP pools spin against each other and CPU
    # training slows down more than 10x. One thread per worker, inherited by subprocesses.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        os.environ["MKL_NUM_THREADS"] = "1"
        import torch

        torch.set_num_threads(1)
