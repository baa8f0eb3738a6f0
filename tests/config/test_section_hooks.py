"""The section modules' own hooks (config/hook_kit.py): an optimizer or scheduler picked by name, and the
distillation unions decided by the value's kind, report a wrong value located at its field, from a file
and from a dict (config/section_from_dict.py)."""
from __future__ import annotations

import pytest

from nptrain.config.loader import load_config
from nptrain.config.section_from_dict import parse_optimizer, parse_scheduler
from nptrain.config.training_section import SGD, Step
from nptrain.errors import ConfigError


def _error(tmp_path, text: str) -> str:
    path = tmp_path / "c.yaml"
    path.write_text("model: {name: simple_cnn}\n" + text)
    with pytest.raises(ConfigError) as info:
        load_config([path])
    return str(info.value)


def test_tagged_and_distillation_hooks_locate_wrong_values(tmp_path):
    assert _error(tmp_path, "training:\n  optimizer: {name: sgdd, lr: 0.1}\n") == (
        f"{tmp_path / 'c.yaml'}:3:21: training.optimizer.name: unknown optimizer 'sgdd' (did you mean 'sgd'?)")
    assert _error(tmp_path, "training:\n  scheduler: 5\n").endswith(
        "training.scheduler: expected a mapping with a name (cosine_no_sgdr, poly, step, multi_step); got 5")
    assert _error(tmp_path, "training:\n  distillation: {teacher: 5}\n").endswith(
        "training.distillation.teacher: expected a run directory or {config: FILE, checkpoint: FILE}; got 5")
    assert _error(tmp_path, "training:\n  distillation: {teacher: runs/t, feature_pairs: []}\n").endswith(
        "expected auto or a non-empty list of {student: I, teacher: J}; got []")


def test_sections_from_dicts():
    assert parse_optimizer({"name": "SGD", "lr": 0.5}) == SGD(lr=0.5)
    assert parse_scheduler({"name": "step", "iters_per_phase": 3}) == Step(iters_per_phase=3)
    with pytest.raises(ConfigError, match=r"training\.optimizer\.lr: .*got -1"):
        parse_optimizer({"name": "sgd", "lr": -1})
