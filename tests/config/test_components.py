"""Transforms are providers with params classes (built-in and from plugins), metric names match the
evaluators, and the training code takes typed records instead of parsing config."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from nptrain.config.augmentation import parse_transforms
from nptrain.config.loader import load_config
from nptrain.data.transforms import build_transforms
from nptrain.errors import ConfigError

INVERT_PLUGIN = """
import attrs
from nptrain import hookimpl
from nptrain.config.ranges import Probability
from nptrain.records import TransformRecord


@attrs.define(kw_only=True)
class InvertParams:
    amount: Probability = 1.0


class Invert:
    def __init__(self, params):
        self.amount = params.amount

    def __call__(self, image, target, gen):
        return image * (1 - self.amount) + (1 - image) * self.amount, target


@hookimpl
def nptrain_transforms():
    return [TransformRecord(name="invert", factory="np_invert_mod:Invert", params=InvertParams,
                            description="1 - x, blended by amount.")]
"""


def test_plugin_transform_is_listed_validated_and_built(fake_dist, write, capsys):
    from nptrain.cli.cmd_list import describe
    from nptrain.plugin_manager import load_plugins

    fake_dist("np-plugin-invert", "np_invert_mod", INVERT_PLUGIN)
    plugins = load_plugins()
    row = describe("transform", plugins.registry.get("transform", "invert"))
    assert row["distribution"] == "np-plugin-invert"
    assert row["params"] == [{"name": "amount", "type": "float", "default": 1.0, "range": "in [0, 1]"}]
    path = write("c.yaml", "model: {name: simple_cnn}\naugmentation:\n  train:\n    - {name: invert, amount: 2}\n")
    with pytest.raises(ConfigError) as info:
        load_config([path], plugins=plugins)
    assert str(info.value) == f"{path}:4:30: augmentation.train[0].amount: expected a number in [0, 1]; got 2"
    entries = parse_transforms([{"name": "invert", "amount": 1.0}], registry=plugins.registry)
    pipeline, batch_step = build_transforms(entries)
    image = torch.rand(3, 4, 5)
    out, _ = pipeline(image, {}, torch.Generator())
    assert batch_step is None and torch.allclose(out, 1 - image)


def test_list_shows_transforms_with_ranges(capsys):
    from nptrain.cli.main import main

    assert main(["list", "transforms"]) == 0
    out = capsys.readouterr().out
    assert "randomhorizontalflip [classification, segmentation, detection]  (nptrain)" in out
    assert "param.p: float = 0.5  (in [0, 1])" in out
    assert "mixing [classification]" in out and "param.mixup: Optional[list[float]] = None  (2 items, each >= 0, alpha > 0, p in [0, 1])" in out


def test_task_metrics_are_the_evaluators_metrics():
    from nptrain.detection.metrics import AVAILABLE as DETECTION
    from nptrain.training.metrics import ClassificationMetric, SegmentationMetric

    from nptrain.plugin_manager import load_plugins

    registry = load_plugins(external=False).registry
    assert {name: registry.task(name).metric_names for name in registry.task_names()} == {
        "classification": ClassificationMetric.AVAILABLE, "segmentation": SegmentationMetric.AVAILABLE,
        "detection": DETECTION}


def test_loaded_sections_are_typed_records(write):
    path = write("c.yaml", """
        model: {name: simple_cnn}
        augmentation:
          train: [{name: resize, size: [8, 10]}, {name: mixing, cutmix: [1.0, 0.5]}]
        training:
          optimizer: {name: SGD, lr: 0.1, overwrite: [{param_group: head, lr: 0.5}]}
          scheduler: {name: step, iters_per_phase: 3}
          ema: {name: constant_decay, decay: 0.5}
    """)
    run = load_config([path]).run
    assert (run.training.optimizer.name, run.training.optimizer.lr, run.training.optimizer.momentum) == ("sgd", 0.1, 0.9)
    assert run.training.optimizer.overwrite[0].lr == 0.5
    assert (run.training.scheduler.name, run.training.scheduler.iters_per_phase) == ("step", 3)
    assert (run.training.ema.name, run.training.ema.decay, run.training.ema.beta) == ("constant_decay", 0.5, 2000.0)
    assert [t.name for t in run.augmentation.train] == ["resize", "mixing"]
    assert run.augmentation.train[0].params.size == [8, 10] and run.augmentation.train[1].params.cutmix == [1.0, 0.5]
    pipeline, mixing = build_transforms(run.augmentation.train)
    assert pipeline(torch.rand(3, 16, 16), {}, torch.Generator())[0].shape == (3, 8, 10)
    assert mixing is not None and mixing.cutmix == [1.0, 0.5]


@pytest.mark.parametrize("ema", ["ema: {}", "ema: ~", "ema: false", ""])
def test_empty_ema_is_off(write, ema):
    path = write("c.yaml", f"model: {{name: simple_cnn}}\ntraining:\n  {ema}\n")
    assert load_config([path]).run.training.ema is None


def test_training_code_does_not_parse_config():
    """The engine, optimizer, EMA and transform code receive records; they import from the config
    package only the LoadedConfig type, the postprocessor defaults and the distillation and MLflow records' types."""
    root = Path(__file__).resolve().parents[2] / "core" / "nptrain"
    allowed = {"from nptrain.config.loader import LoadedConfig",
               "from nptrain.config.model_section import PostprocessorParams",
               "from nptrain.config.distillation_section import DistillationConfig",
               "from nptrain.config.mlflow_section import MlflowConfig"}
    for path in [*sorted((root / "training").glob("*.py")), root / "data" / "transforms.py"]:
        imports = re.findall(r"^\s*(from nptrain\.config[\w.]* import [\w, ]+)", path.read_text(), re.M)
        assert set(imports) <= allowed, (path.name, imports)


def test_part_options_on_a_full_model_fail_at_load(write):
    """Trainer would refuse these after reading the data; load_config refuses them first."""
    pytest.importorskip("np_plugin_pidnet")
    path = write("c.yaml", """
        model: {task: segmentation, name: pidnet_s, freeze_backbone: true}
        training:
          optimizer: {name: sgd, overwrite: [{param_group: head, lr: 0.1}]}
    """)
    with pytest.raises(ConfigError) as info:
        load_config([path])
    assert info.value.lines == [
        f"{path}:1:62: model.freeze_backbone: needs a backbone; model.architecture.full (pidnet) has none",
        f"{path}:3:37: training.optimizer.overwrite: needs a backbone/neck/head model; model.architecture.full "
        "(pidnet) has no parts to overwrite"]
