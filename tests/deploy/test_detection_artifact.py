"""``nptrain evaluate RUN_DIR --artifact`` on a detection run: fp32 ONNX gives the PyTorch model's COCO
mAP (same post-processing, same metric code), int8 ONNX runs through the same path."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nptrain.cli.main import main

# yolox_nano at 64 px, one epoch on 24 images: a few seconds of training. score_thresh 0 keeps every
# box so the barely trained model scores a small but non-zero mAP (a comparison that can fail)
CONFIG = """
data:
  name: shapes_det
  path:
    train: {{image: {data}/train/images, label: {data}/train/labels}}
    valid: {{image: {data}/valid/images, label: {data}/valid/labels}}
  id_mapping: [rectangle, ellipse, triangle]
augmentation:
  train:
    - {{name: resize, size: 64}}
    - {{name: normalize, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}}
  inference:
    - {{name: resize, size: 64}}
    - {{name: normalize, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}}
model:
  task: detection
  name: yolox_nano
  postprocessor:
    params: {{score_thresh: 0.0, nms_thresh: 0.65, class_agnostic: false, max_detections: 100}}
training:
  epochs: 1
  optimizer: {{name: adamw, lr: 0.005}}
logging:
  output_dir: {out}
  tensorboard: false
  plot: false
environment:
  seed: 1
  batch_size: 8
  num_workers: 0
"""


@pytest.fixture(scope="module")
def det_run(tmp_path_factory) -> Path:
    from nptrain.config.loader import load_config
    from nptrain.data.shapes_det import write_shapes_det
    from nptrain.training.engine import run_training

    work = tmp_path_factory.mktemp("det_artifact")
    write_shapes_det(work / "data", n_train=24, n_valid=8, seed=5)
    cfg = work / "det.yaml"
    cfg.write_text(CONFIG.format(data=work / "data", out=work / "runs"))
    return run_training(load_config([str(cfg)]), name="det", log=lambda _m: None)


def _json_line(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.slow  # trains a (tiny) detector: ~1 min on an idle core
def test_detection_artifacts_give_pytorch_map(det_run: Path, capsys):
    assert (det_run / "weights" / "model.onnx").is_file()
    assert main(["quantize", str(det_run), "--calib", "8"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(det_run), "--json"]) == 0
    torch_res = _json_line(capsys)
    assert main(["evaluate", str(det_run), "--artifact", str(det_run / "weights" / "model.onnx"), "--json"]) == 0
    fp32 = _json_line(capsys)
    assert main(["evaluate", str(det_run), "--artifact", str(det_run / "quantized-minmax" / "model_int8.onnx"),
                 "--json"]) == 0
    int8 = _json_line(capsys)
    assert torch_res["map50"] > 0  # otherwise the comparison below would say nothing
    for key in ("map50_95", "map50", "map75", "precision50", "recall50"):
        assert fp32[key] == pytest.approx(torch_res[key], abs=1e-4), key
    for cls, ap in torch_res["per_class_ap50"].items():
        assert fp32["per_class_ap50"][cls] == pytest.approx(ap, abs=1e-4), cls
    assert fp32["loss"] == pytest.approx(torch_res["loss"], rel=1e-4)
    # int8 goes through the same decoding, NMS and COCO matching: same ground truth, close raw outputs
    assert int8["runtime"] == "onnxruntime" and int8["samples"] == fp32["samples"] == 8
    assert int8["per_class_boxes"] == fp32["per_class_boxes"]
    assert 0.0 <= int8["map50_95"] <= int8["map50"] <= 1.0
    assert int8["loss"] == pytest.approx(fp32["loss"], rel=0.1)
    cache = json.loads((det_run / "artifact-metrics.json").read_text())
    assert cache["quantized-minmax/model_int8.onnx"]["primary"] == "map50_95"
