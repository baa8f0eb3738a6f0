"""Fixtures for segmentation tests: the synthetic shapes folders (written once per session) and configs."""
from __future__ import annotations

from pathlib import Path

import pytest

SEG_CONFIG = """
data:
  path:
    train: {{image: {data}/train/images, label: {data}/train/masks}}
    valid: {{image: {data}/valid/images, label: {data}/valid/masks}}
  id_mapping: [background, disc, square, triangle]
augmentation:
  train:
    - {{name: randomresizedcrop, size: 64, scale: [0.5, 1.0]}}
    - {{name: randomhorizontalflip, p: 0.5}}
    - {{name: normalize, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}}
  inference:
    - {{name: resize, size: 64}}
    - {{name: normalize, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}}
model:
  task: segmentation
  name: simple_cnn_seg
training:
  epochs: 3
  optimizer: {{name: adamw, lr: 0.005, weight_decay: 0.01}}
  scheduler: {{name: cosine_no_sgdr, warmup_epochs: 1}}
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
def shapes_dir(tmp_path_factory) -> Path:
    from nptrain.data.shapes import write_shapes

    out = tmp_path_factory.mktemp("shapes")
    write_shapes(out, n_train=384, n_valid=48)  # 64x64; more steps per epoch so 3 epochs learn
    return out


@pytest.fixture(scope="session")
def small_shapes_dir(tmp_path_factory) -> Path:
    from nptrain.data.shapes import write_shapes

    out = tmp_path_factory.mktemp("small_shapes")
    write_shapes(out, n_train=24, n_valid=8, seed=5)
    return out


@pytest.fixture
def seg_config(config_pair, shapes_dir: Path):
    """seg_config(extra_yaml="", name="seg", data=None) -> [base config, extra config] paths."""

    def _make(extra: str = "", name: str = "seg", data: Path | None = None) -> list[str]:
        return config_pair(SEG_CONFIG, name, extra, data=data or shapes_dir)

    return _make
