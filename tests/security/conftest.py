"""Tiny image folders and configs for the hostile-input tests (seconds, not minutes)."""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

TINY_CONFIG = """
data:
  path:
    train: {{image: {data}/train}}
    valid: {{image: {data}/valid}}
augmentation:
  train:
    - {{name: resize, size: 16}}
    - {{name: normalize, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}}
  inference:
    - {{name: resize, size: 16}}
    - {{name: normalize, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}}
model:
  name: simple_cnn
  architecture:
    backbone:
      params: {{stem_channels: 8}}
      stage_params: [{{channels: 8}}, {{channels: 16}}, {{channels: 16}}]
training:
  epochs: 1
  optimizer: {{name: adamw, lr: 0.003}}
  scheduler: {{name: cosine_no_sgdr, warmup_epochs: 0}}
logging:
  output_dir: {out}
  onnx_export: false
  fx_export: false
  tensorboard: false
  plot: false
environment:
  seed: 0
  batch_size: 8
  num_workers: 0
"""


def write_tiny_images(root: Path, classes: int = 3, per_class: int = 4, size: int = 12) -> Path:
    """``root/{train,valid}/c<i>/<n>.png``: class i is bright in channel i, so it is learnable."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "valid"):
        for c in range(classes):
            folder = root / split / f"c{c}"
            folder.mkdir(parents=True, exist_ok=True)
            for n in range(per_class):
                arr = rng.integers(0, 60, size=(size, size, 3), dtype=np.uint8)
                arr[..., c % 3] += 180
                Image.fromarray(arr).save(folder / f"{n}.png")
    return root


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    return write_tiny_images(tmp_path / "data")


@pytest.fixture
def tiny_config(tmp_path: Path, tiny_data: Path):
    """tiny_config(extra_yaml="", name="tiny", data=None) -> [base, extra] config paths (merged in order)."""

    def _make(extra: str = "", name: str = "tiny", data: Path | None = None) -> list[str]:
        base = tmp_path / f"{name}_base.yaml"
        base.write_text(TINY_CONFIG.format(data=data or tiny_data, out=tmp_path / "runs"))
        over = tmp_path / f"{name}.yaml"
        over.write_text(textwrap.dedent(extra).lstrip("\n") or "{}\n")
        return [str(base), str(over)]

    return _make
