"""docs/python.md's code blocks run as written, in order, and do what the page says they do; on tiny
data: a 16 px, 8-channel variant of the quickstart config on 12 training and 4 validation digits per class
(the page's own two quickstart epochs cost about a CPU-minute, too much for the default suite)."""
from __future__ import annotations

import contextlib
import io
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


TINY_QUICKSTART = """
data:
  path:
    train: {image: data/digits/train}
    valid: {image: data/digits/valid}
augmentation:
  train: [{name: resize, size: 16}, {name: normalize, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}]
  inference: [{name: resize, size: 16}, {name: normalize, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}]
model:
  task: classification
  name: simple_cnn
  architecture:
    backbone:
      params: {stem_channels: 8}
      stage_params: [{channels: 8}, {channels: 16}, {channels: 32}]
training:
  epochs: 15
  optimizer: {name: adamw, lr: 0.003}
logging: {output_dir: runs, fx_export: false, tensorboard: false, plot: false}
environment: {seed: 1, batch_size: 32, num_workers: 0}
"""


def tiny_digits(out: Path, full: Path) -> None:
    from nptrain.data.digits import write_digits

    write_digits(full)
    for split, count in (("train", 12), ("valid", 4)):
        for folder in sorted((full / split).iterdir()):
            (out / split / folder.name).mkdir(parents=True)
            for image in sorted(folder.iterdir())[:count]:
                shutil.copy(image, out / split / folder.name / image.name)


@pytest.mark.slow
def test_python_docs_blocks_run(tmp_path, monkeypatch):
    blocks = python_blocks((ROOT / "docs" / "python.md").read_text())
    assert len(blocks) == 5
    tiny_digits(tmp_path / "data" / "digits", tmp_path / "full")
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "quickstart.yaml").write_text(TINY_QUICKSTART)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for block in blocks:
            exec(compile(block, "docs/python.md", "exec"), namespace)  # noqa: S102 - our own docs
    lines = printed.getvalue().splitlines()
    run = namespace["run"]
    assert lines[:2] == [f"epoch {r['epoch']}: loss {r['train_loss']:.3f}, top-1 {r['valid_top1_accuracy']:.3f}"
                         for r in run.history]
    assert lines[2] == "runs/classification/simple_cnn" and run.dir == Path("runs/classification/simple_cnn")
    assert namespace["result"].metrics["top1_accuracy"] == pytest.approx(run.metrics["top1_accuracy"])
    assert namespace["exported"].metrics["top1_accuracy"] == pytest.approx(run.metrics["top1_accuracy"], abs=0.03)
    assert all(p.image.startswith("data/digits/valid/7/") for p in namespace["predictions"])
    assert [f.name for f in namespace["written"].files] == ["predictions.csv", "predictions.png"]
    assert namespace["onnx_file"].opset == 17 and namespace["onnx_file"].path.is_file()
    assert str(namespace["fx_file"].path) == "runs/classification/simple_cnn/exports/model-last_fx.pt"
    assert namespace["small"].retrain_config.is_file()
    assert lines[-2] == "training.epochs - <command line>: training.epochs: expected an integer; got 'many'"
    assert lines[-1] == "image not found: no/such/image.png"
