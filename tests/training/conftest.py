"""Fixtures for engine tests: the digits folders (written once per session) and small configs."""
from __future__ import annotations

from pathlib import Path

import pytest

SMALL_CONFIG = """
data:
  path:
    train: {{image: {data}/train}}
    valid: {{image: {data}/valid}}
augmentation:
  train:
    - {{name: resize, size: 16}}
    - {{name: randomresizedcrop, size: 16, scale: [0.7, 1.0]}}
    - {{name: normalize, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}}
  inference:
    - {{name: resize, size: 16}}
    - {{name: normalize, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}}
model:
  name: simple_cnn
  architecture:
    backbone:
      params: {{stem_channels: 8}}
      stage_params: [{{channels: 8}}, {{channels: 16}}, {{channels: 32}}]
training:
  epochs: 2
  optimizer: {{name: adamw, lr: 0.003, weight_decay: 0.01}}
  scheduler: {{name: cosine_no_sgdr, warmup_epochs: 1}}
logging:
  output_dir: {out}
  onnx_export: false
  fx_export: false
  tensorboard: false
  plot: false
environment:
  seed: 3
  batch_size: 64
  deterministic: true
  cache_data: true
"""


@pytest.fixture(scope="session")
def digits_dir(tmp_path_factory) -> Path:
    from nptrain.data.digits import write_digits

    out = tmp_path_factory.mktemp("digits")
    write_digits(out)
    return out


@pytest.fixture
def small_config(config_pair, digits_dir: Path):
    """small_config(extra_yaml="", name="small") -> [base config, extra config] paths (merged in order)."""

    def _make(extra: str = "", name: str = "small") -> list[str]:
        return config_pair(SMALL_CONFIG, name, extra, data=digits_dir)

    return _make
