"""Distillation earns its place on real data: a hard-pruned digits model retrains better from its teacher."""
from __future__ import annotations

import pytest

from nptrain.testing.distill_proof import run_proof


@pytest.mark.slow
def test_distilled_retraining_beats_plain_retraining(tmp_path):
    """scikit-learn digits (real scans, 359 validation images), the 78k-parameter simple_cnn trained 8 epochs
    (top-1 0.969), pruned at ratio 0.6 to 14.8k parameters (top-1 0.097 before retraining), then retrained
    2 epochs with mixup/cutmix from the same seed, once plain and once as ``nptrain compress``'s
    retrain.yaml writes it (the unpruned run as teacher, temperature 1, weight 0.9).

    Measured outside the suite over 5 seeds (``python -m nptrain.testing.distill_proof WORK --seeds 1 2 3
    4 5``): plain 93.5% mean, distilled 94.8% mean, margin +1.3 points (per seed +2.2, +1.1, -0.3, +1.4,
    +1.9; distilled higher for 4 of 5). The suite runs seed 1 (margin +2.2 points: 0.9359 -> 0.9582;
    deterministic mode) and asserts the distilled run is higher by at least 1 point (4 validation images).
    The fast check of the same effect is test_distill_run.py::test_distillation_pulls_the_student_towards_its_teacher."""
    res = run_proof(tmp_path, seeds=[1], epochs=2, teacher_epochs=8, ratio=0.6)
    assert res.params[1] < 0.4 * res.params[0]  # pruned hard
    assert res.pruned < 0.5 * res.teacher  # pruning alone breaks it: retraining has real work to do
    assert res.distilled[0] >= res.plain[0] + 0.01, (res.plain, res.distilled)
