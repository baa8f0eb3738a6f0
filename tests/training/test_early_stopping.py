"""training.early_stopping: the decision from history, a run that stops early (log, summary, exports), and resume
respecting it (bit-identical to the uninterrupted early-stopped run; a stopped run stays stopped)."""
from __future__ import annotations

import csv
import json

import pytest

from nptrain.config.loader import load_config
from nptrain.training.early_stopping import early_stop_reason
from nptrain.training.engine import run_training


def _rows(values: list, key: str = "valid_top1_accuracy") -> list[dict]:
    return [{"epoch": i + 1, **({key: v} if v is not None else {})} for i, v in enumerate(values)]


def test_the_decision_counts_epochs_since_the_last_real_improvement():
    rows = _rows([0.5, 0.6, 0.605, 0.61, 0.59])
    assert early_stop_reason(rows, "valid_top1_accuracy", False, 3, 0.0) is None  # 0.61 at epoch 4 improved
    # with min_delta 0.02 the last improvement is 0.6 at epoch 2: three epochs ago
    assert early_stop_reason(rows, "valid_top1_accuracy", False, 3, 0.02) == (
        "top1_accuracy has not improved by more than 0.02 for 3 epochs (patience 3; 0.6000 at epoch 2)")
    assert early_stop_reason(rows, "valid_top1_accuracy", False, 4, 0.02) is None
    losses = _rows([1.0, 0.8, 0.9, 0.85], key="valid_loss")
    assert early_stop_reason(losses, "valid_loss", True, 2, 0.0) == (
        "loss has not improved for 2 epochs (patience 2; 0.8000 at epoch 2)")
    # epochs that did not validate (validation_epoch > 1) count by their epoch numbers, not as values
    sparse = _rows([None, 0.5, None, 0.5, None, 0.5])
    assert early_stop_reason(sparse, "valid_top1_accuracy", False, 4, 0.0) == (
        "top1_accuracy has not improved for 4 epochs (patience 4; 0.5000 at epoch 2)")
    assert early_stop_reason([], "valid_loss", True, 1, 0.0) is None


# the loss never improves by more than 10: epoch 1 sets the mark, the run stops after epoch 3 of 6
EARLY = """
training:
  epochs: 6
  early_stopping: {patience: 2, min_delta: 10.0}
logging: {model_save_options: {best_model_criterion: loss}}
"""


@pytest.mark.slow
def test_a_run_stops_early_says_why_and_still_exports(small_config):
    lines: list[str] = []
    paths = small_config(EARLY.replace("logging: {", "logging: {fx_export: true, "))
    run_dir = run_training(load_config(paths), name="early", log=lines.append)
    with open(run_dir / "results.csv") as fh:
        assert [r["epoch"] for r in csv.DictReader(fh)] == ["1", "2", "3"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["stopped_early"]["epoch"] == 3
    assert summary["stopped_early"]["reason"].startswith("loss has not improved by more than 10 for 2 epochs")
    assert summary["export"]["fx"]["ok"]
    said = [line for line in lines if line.startswith("early stopping after epoch 3/6: loss has not improved")]
    assert len(said) == 1
    # resuming a run that stopped early: nothing to do, and it says how to go on
    again: list[str] = []
    run_training(load_config(paths), name="early", resume_dir=run_dir, log=again.append)
    assert any(line.startswith("run stopped early after epoch 3 (loss has not improved") and
               "raise training.early_stopping.patience" in line for line in again), again
    with open(run_dir / "results.csv") as fh:
        assert len(list(csv.DictReader(fh))) == 3
    # a larger patience continues it
    more = load_config(paths, ["training.early_stopping.patience=3"])
    run_training(more, name="early", resume_dir=run_dir, log=lambda _m: None)
    with open(run_dir / "results.csv") as fh:
        assert len(list(csv.DictReader(fh))) == 4


@pytest.mark.slow
def test_resume_respects_early_stopping(small_config, resumed_equals_full):
    full, part = resumed_equals_full(small_config(EARLY))
    for d in (full, part):
        assert json.loads((d / "summary.json").read_text())["stopped_early"]["epoch"] == 3
