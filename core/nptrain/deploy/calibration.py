"""Calibration images for post-training quantization: a seeded sample of the run's *training*
split passed through the run's *inference* transforms (what the deployed model will see)."""
from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from nptrain.errors import UserError


class CalibrationSet:
    """``count`` images (``(1, C, H, W)`` float32 arrays) picked with ``seed`` from ``dataset``."""

    def __init__(self, dataset: Any, count: int, seed: int) -> None:
        if len(dataset) == 0:
            raise UserError("the training split holds no images to calibrate with")
        self.available = len(dataset)
        self.requested = count
        rng = np.random.default_rng(seed)
        # a fixed permutation: the same run and seed always calibrate on the same images
        self.indices = sorted(int(i) for i in rng.permutation(len(dataset))[:count])
        self.dataset = dataset

    @property
    def short(self) -> bool:
        return self.available < self.requested

    def __len__(self) -> int:
        return len(self.indices)

    def arrays(self) -> Iterator[np.ndarray]:
        for i in self.indices:
            image, _ = self.dataset[(i, 0)]
            yield image.unsqueeze(0).contiguous().numpy().astype(np.float32)


def calibration_set(loaded: Any, classes: list[str], count: int, seed: int) -> CalibrationSet:
    """The run's training split with its inference transforms (``count`` images at most)."""
    # lazy: torch
    from nptrain.training.setup import inference_transform

    builder = loaded.task_spec.part("dataset")
    train = builder(loaded.run.data, "train", inference_transform(loaded), classes or None)
    return CalibrationSet(train, count, seed)

