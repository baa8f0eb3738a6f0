"""A tiny valid run (two classes of 8x8 images) and helpers to feed configs to the CLI in-process."""
from __future__ import annotations

from pathlib import Path

import pytest

VALID = """\
data:
  path:
    train: {{image: {data}/train}}
    valid: {{image: {data}/valid}}
augmentation:
  train:
    - {{name: resize, size: 8}}
    - {{name: randomhorizontalflip, p: 0.5}}
  inference:
    - {{name: resize, size: 8}}
model:
  name: simple_cnn
  architecture:
    backbone:
      params: {{stem_channels: 4}}
      stage_params: [{{channels: 4}}, {{channels: 4}}, {{channels: 8}}, {{channels: 8}}]
training:
  epochs: 1
  optimizer: {{name: adamw, lr: 0.001, weight_decay: 0.01}}
  scheduler: {{name: cosine_no_sgdr, warmup_epochs: 0}}
logging:
  output_dir: {out}
  model_save_options: {{validation_epoch: 1}}
  metrics: {{metric_names: [top1_accuracy]}}
  onnx_export: false
  fx_export: false
  tensorboard: false
  plot: false
  csv: false
environment:
  batch_size: 2
  num_workers: 0
"""


@pytest.fixture(scope="session")
def tiny_images(tmp_path_factory) -> Path:
    """``train/`` and ``valid/`` with two class folders of three 8x8 PNGs each."""
    import numpy as np
    from PIL import Image

    root = tmp_path_factory.mktemp("tiny_images")
    rng = np.random.default_rng(0)
    for split in ("train", "valid"):
        for cls in ("a", "b"):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(3):
                pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


@pytest.fixture
def valid_text(tiny_images: Path, tmp_path: Path) -> str:
    """The valid config's YAML, writing its runs under ``tmp_path/runs``."""
    return VALID.format(data=tiny_images, out=tmp_path / "runs")


@pytest.fixture
def cli(capsys):
    """cli(*argv) -> (exit status, stderr lines), running ``nptrain`` in this process."""
    from nptrain.cli.main import main

    def _run(*argv: str) -> tuple[int, list[str]]:
        capsys.readouterr()
        code = main(list(argv))
        return code, capsys.readouterr().err.splitlines()

    return _run
