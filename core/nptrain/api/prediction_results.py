"""What :func:`nptrain.predict` returns: one typed result per image (:class:`ClassScores`,
:class:`SegmentationMask`, :class:`Detections`) in a :class:`Predictions` list.

They live apart from :mod:`nptrain.api.predict`, which computes them, so that
:mod:`nptrain.api.predict_files`, which writes them, can import them while predict imports the writer."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

import numpy as np


@dataclass(frozen=True)
class ClassScores:
    image: str
    top: list[tuple[str, int, float]]  # (class, class id, probability), most probable first (topk of them)
    probabilities: np.ndarray  # (num_classes,) softmax over every class
    files: tuple[Path, ...] = ()

    @property
    def label(self) -> str:
        return self.top[0][0]

    @property
    def score(self) -> float:
        return self.top[0][2]


@dataclass(frozen=True)
class SegmentationMask:
    image: str
    mask: np.ndarray  # (H, W) uint8 class ids at the image's own size
    classes: list[str]
    files: tuple[Path, ...] = ()

    def shares(self) -> dict[str, float]:
        """Fraction of the image's pixels per predicted class (classes not predicted left out)."""
        counts = np.bincount(self.mask.ravel(), minlength=len(self.classes))
        return {self.classes[i]: float(c) / self.mask.size for i, c in enumerate(counts) if c}


@dataclass(frozen=True)
class Detections:
    image: str
    boxes: np.ndarray  # (N, 4) float x1, y1, x2, y2 in the image's own pixels
    scores: np.ndarray  # (N,)
    class_ids: np.ndarray  # (N,) int
    labels: list[str]  # class names of the N boxes
    files: tuple[Path, ...] = ()

    def __len__(self) -> int:
        return len(self.scores)


Prediction = Union[ClassScores, SegmentationMask, Detections]


class Predictions(list):
    """The results, one per image in order; ``files`` lists the files written for all of them
    (``predictions.csv``, ``detections.json``, ...), empty without ``output``."""

    def __init__(self, items: Sequence[Prediction] = (), files: Sequence[Path] = ()) -> None:
        super().__init__(items)
        self.files = list(files)
