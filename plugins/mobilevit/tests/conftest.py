"""One intra-op thread for this folder's tests: the models are small, so extra threads only add
synchronisation cost (large under a loaded CI machine), and one thread keeps float results reproducible."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
