"""Every first-party classification and segmentation preset trains one epoch through ``nptrain run``:
classification on a digits subset upsampled to 64², segmentation on a few synthetic shapes images.
(Detection presets run the same way in tests/detection.)"""
from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import pytest

import nptrain
from nptrain.cli.main import main
from nptrain.plugin_manager import default_plugins
from tests.preset_selection import skip_larger_variant

SIZE = 64
COMMON = f"""
augmentation:
  train:
    - {{name: resize, size: {SIZE}}}
    - {{name: randomhorizontalflip, p: 0.5}}
    - {{name: normalize, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}}
  inference:
    - {{name: resize, size: {SIZE}}}
    - {{name: normalize, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}}
training:
  epochs: 1
  optimizer: {{name: adamw, lr: 0.0005, weight_decay: 0.01}}
logging: {{onnx_export: false, fx_export: false, tensorboard: false, plot: false}}
environment: {{seed: 0, batch_size: 16, num_workers: 0, cache_data: true}}
"""


def presets(task: str):
    reg = default_plugins().registry
    return [pytest.param(p.record.name, id=p.record.name) for p in reg.all("preset")
            if p.record.task == task and (p.dist.startswith("np-plugin-") or p.dist == "nptrain")
            and p.dist != "np-plugin-tinynet"]


@pytest.fixture(scope="module")
def digits_subset(tmp_path_factory, digits_dir) -> Path:
    """4 training and 2 validation images per class: one epoch is three steps."""
    out = tmp_path_factory.mktemp("digits_subset")
    for split, keep in (("train", 4), ("valid", 2)):
        for cls in sorted((digits_dir / split).iterdir()):
            (out / split / cls.name).mkdir(parents=True)
            for f in sorted(cls.iterdir())[:keep]:
                shutil.copy(f, out / split / cls.name / f.name)
    return out


@pytest.fixture(scope="module")
def shapes_subset(tmp_path_factory) -> Path:
    from nptrain.data.shapes import write_shapes

    out = tmp_path_factory.mktemp("shapes_subset")
    write_shapes(out, n_train=24, n_valid=8, size=SIZE)
    return out


def _train_one_epoch(tmp_path: Path, data_yaml: str, task: str, preset: str, num_classes: int) -> dict:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(data_yaml + COMMON + f"model: {{task: {task}, name: {preset}}}\n")
    assert main(["run", str(cfg), f"logging.output_dir={tmp_path}/runs"]) == 0
    run = next((tmp_path / "runs").rglob("summary.json")).parent
    rows = list(csv.DictReader((run / "results.csv").open()))
    assert len(rows) == 1 and math.isfinite(float(rows[0]["train_loss"])), rows
    summary = json.loads((run / "summary.json").read_text())
    # the trained model is the preset with the dataset's class count, nothing else
    expected = sum(p.numel() for p in nptrain.create_model(preset, task=task, num_classes=num_classes).parameters())
    assert summary["params"] == expected
    assert (run / "weights" / "best.safetensors").is_file()
    return summary


@pytest.mark.parametrize("preset", presets("classification"))
def test_classification_preset_trains_one_epoch_on_digits(preset, digits_subset, tmp_path):
    skip_larger_variant(preset)
    data = f"data:\n  path:\n    train: {{image: {digits_subset}/train}}\n    valid: {{image: {digits_subset}/valid}}\n"
    summary = _train_one_epoch(tmp_path, data, "classification", preset, 10)
    assert 0.0 <= summary["best"]["metrics"]["valid_top1_accuracy"] <= 1.0


@pytest.mark.parametrize("preset", presets("segmentation"))
def test_segmentation_preset_trains_one_epoch_on_shapes(preset, shapes_subset, tmp_path):
    skip_larger_variant(preset)
    data = (f"data:\n  path:\n    train: {{image: {shapes_subset}/train/images, label: {shapes_subset}/train/masks}}\n"
            f"    valid: {{image: {shapes_subset}/valid/images, label: {shapes_subset}/valid/masks}}\n"
            "  id_mapping: [background, disc, square, triangle]\n")
    summary = _train_one_epoch(tmp_path, data, "segmentation", preset, 4)
    assert 0.0 <= summary["best"]["metrics"]["valid_miou"] <= 1.0
