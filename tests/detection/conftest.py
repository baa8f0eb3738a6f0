"""Fixtures for detection engine tests: the synthetic shapes-det folders (written once per session) and configs."""
from __future__ import annotations

from pathlib import Path

import pytest

# small enough for one CPU thread per xdist worker: yolox_nano at 96 px, 8 images a step
DET_CONFIG = """
data:
  path:
    train: {{image: {data}/train/images, label: {data}/train/labels}}
    valid: {{image: {data}/valid/images, label: {data}/valid/labels}}
  id_mapping: [rectangle, ellipse, triangle]
augmentation:
  train:
    - {{name: resize, size: 96}}
    - {{name: randomhorizontalflip, p: 0.5}}
    - {{name: normalize, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}}
  inference:
    - {{name: resize, size: 96}}
    - {{name: normalize, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}}
model:
  task: detection
  name: yolox_nano
training:
  epochs: 10
  optimizer: {{name: adamw, lr: 0.005, weight_decay: 0.01, no_bias_decay: true, no_norm_weight_decay: true}}
  scheduler: {{name: cosine_no_sgdr, warmup_epochs: 1, min_lr: 0.00001}}
logging:
  output_dir: {out}
  tensorboard: false
  plot: false
environment:
  seed: 1
  batch_size: 8
  deterministic: true
  cache_data: true
"""


@pytest.fixture(scope="session")
def shapes_det_dir(tmp_path_factory) -> Path:
    from nptrain.data.shapes_det import write_shapes_det

    out = tmp_path_factory.mktemp("shapes_det")
    write_shapes_det(out, n_train=192, n_valid=48)
    return out


@pytest.fixture(scope="session")
def small_shapes_det_dir(tmp_path_factory) -> Path:
    from nptrain.data.shapes_det import write_shapes_det

    out = tmp_path_factory.mktemp("small_shapes_det")
    write_shapes_det(out, n_train=24, n_valid=8, seed=5)
    return out


@pytest.fixture
def det_config(config_pair, shapes_det_dir: Path):
    """det_config(extra_yaml="", name="det", data=None) -> [base config, extra config] paths."""

    def _make(extra: str = "", name: str = "det", data: Path | None = None) -> list[str]:
        return config_pair(DET_CONFIG, name, extra, data=data or shapes_det_dir)

    return _make
