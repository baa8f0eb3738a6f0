"""Parameter groups, per-part learning rates and the LR schedules."""
from __future__ import annotations

import pytest

from nptrain.config.loader import load_config
from nptrain.config.section_from_dict import parse_optimizer, parse_scheduler
from nptrain.modeling.builder import build_model
from nptrain.training.optim import build_optimizer, lr_factor


def _model(tmp_path):
    cfg = tmp_path / "m.yaml"
    cfg.write_text("model: {name: simple_cnn}\n")
    return build_model(load_config([cfg]).resolved, 10)


def test_groups_follow_parameter_order_with_overwrite_and_no_decay(tmp_path):
    model = _model(tmp_path)
    opt_cfg = parse_optimizer({"name": "sgd", "lr": 0.1, "weight_decay": 1e-4, "no_bias_decay": True,
                               "no_norm_weight_decay": True, "overwrite": [{"param_group": "head", "lr": 0.5}]})
    opt = build_optimizer(model, opt_cfg)
    names = [n for g in opt.param_groups for n in g["names"]]
    assert sorted(names) == sorted(n for n, _ in model.named_parameters())
    by_name = {n: g for g in opt.param_groups for n in g["names"]}
    assert by_name["head.classifier.weight"]["lr"] == 0.5 and by_name["head.classifier.weight"]["weight_decay"] == 1e-4
    assert by_name["head.classifier.bias"]["weight_decay"] == 0.0
    assert by_name["backbone.stem.conv.weight"]["lr"] == 0.1 and by_name["backbone.stem.conv.weight"]["weight_decay"] == 1e-4
    norm = next(n for n in by_name if n.startswith("backbone.stem.") and n.endswith("weight") and "conv" not in n)
    assert by_name[norm]["weight_decay"] == 0.0
    # deterministic: building twice gives the same layout
    again = build_optimizer(model, opt_cfg)
    assert [g["names"] for g in again.param_groups] == [g["names"] for g in opt.param_groups]


def test_schedules():
    cos = parse_scheduler({"name": "cosine_no_sgdr", "warmup_epochs": 2, "min_lr": 0.01})
    assert lr_factor(cos, 1.0, 10, 1.0) == pytest.approx(0.5)
    assert lr_factor(cos, 2.0, 10, 1.0) == pytest.approx(1.0)
    assert lr_factor(cos, 10.0, 10, 1.0) == pytest.approx(0.01)
    per_epoch = parse_scheduler({"name": "cosine_no_sgdr", "step_per": "epoch"})
    assert lr_factor(per_epoch, 3.7, 10, 1.0) == lr_factor(per_epoch, 3.0, 10, 1.0)
    step = parse_scheduler({"name": "step", "iters_per_phase": 3, "gamma": 0.5})
    assert [lr_factor(step, e, 10, 1.0) for e in (0, 2.9, 3, 6)] == [1.0, 1.0, 0.5, 0.25]
    ms = parse_scheduler({"name": "multi_step", "milestones": [2, 5], "gamma": 0.1})
    assert [lr_factor(ms, e, 10, 1.0) for e in (1, 2, 5)] == pytest.approx([1.0, 0.1, 0.01])
    poly = parse_scheduler({"name": "poly", "power": 2.0})
    assert lr_factor(poly, 5, 10, 1.0) == pytest.approx(0.25)


def test_unknown_optimizer_is_located(tmp_path):
    from nptrain.cli.main import main

    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {name: simple_cnn}\ntraining:\n  optimizer: {name: adamww, lr: 0.1}\n")
    assert main(["run", str(cfg)]) == 2
