"""End-to-end detection with the core alone: `nptrain data shapes-det`, run (learns, picks best by
mAP50:95, exports fx + ONNX with onnxruntime parity), evaluate, predict (drawn boxes + JSON), resume,
YOLO vs COCO labels, label errors that name the file and line; plus the real nuclei tiles."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nptrain.cli.main import main
from nptrain.config.loader import load_config
from nptrain.data.nuclei import stardist_installed
from nptrain.report.prediction_pictures import display_scale
from nptrain.training.engine import run_training

# 10 epochs of yolox_nano at 96 px on 192 images reach mAP50 ≈ 0.44 (best epoch 9, mAP50:95 0.17; measured with
# YOLOX's corner grid, one CPU thread, ~25 s uncontended);
# an untrained model scores 0.0 (its objectness starts at the 0.01 prior, so nothing is detected)
SHAPES_MIN_MAP50 = 0.25


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _yolo_boxes(label: Path, width: int, height: int) -> list[list[float]]:
    out = []
    for line in label.read_text().splitlines():
        _, cx, cy, w, h = (float(v) for v in line.split())
        out.append([(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height])
    return out


@pytest.mark.slow
def test_shapes_det_run_learns_exports_evaluates_predicts(det_config, shapes_det_dir, tmp_path, capsys):
    assert main(["run", *det_config()]) == 0
    run = tmp_path / "runs" / "detection" / "yolox_nano"
    summary = json.loads((run / "summary.json").read_text())
    best = summary["best"]
    assert best["key"] == "valid_map50_95", best  # the default primary metric picks weights/best
    assert best["metrics"]["valid_map50"] >= SHAPES_MIN_MAP50, best
    assert set(best["per_class_ap50"]) == {"rectangle", "ellipse", "triangle"}
    assert sum(best["per_class_boxes"].values()) > 48
    onnx = summary["export"]["onnx"]
    # raw (B, N, 5 + C) output with boxes in pixels (up to ~100): float32 parity at the 1e-3 level
    assert onnx["ok"] and onnx["max_abs_diff"] < 2e-3, onnx
    assert summary["export"]["fx"]["ok"] and summary["input_shape"] == [3, 96, 96]
    out = capsys.readouterr().out
    assert "AP50:95" in out and "triangle" in out  # the per-class table closes the run

    assert main(["evaluate", str(run), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["map50_95"] == pytest.approx(best["value"])
    assert metrics["map50"] == pytest.approx(best["metrics"]["valid_map50"])
    assert set(metrics) >= {"map50", "map75", "map50_95", "precision50", "recall50", "per_class_ap50"}
    assert main(["evaluate", str(run)]) == 0
    assert "map50_95" in capsys.readouterr().out

    images = [shapes_det_dir / "valid" / "images" / f"{i:04d}.png" for i in range(8)]
    preds = tmp_path / "preds"
    assert main(["predict", str(run), *map(str, images), "-o", str(preds), "--score-thresh", "0.2"]) == 0
    found = json.loads((preds / "detections.json").read_text())
    assert list(found) == [str(p) for p in images]
    hits = 0
    for path in images:
        drawn = Image.open(preds / f"{path.stem}_boxes.png")
        original = Image.open(path)
        scale = display_scale(original.size)  # 64-128 px tiles are enlarged so captions read
        assert scale > 1 and drawn.size == (original.width * scale, original.height * scale) and drawn.mode == "RGB"
        truth = _yolo_boxes(shapes_det_dir / "valid" / "labels" / f"{path.stem}.txt", *original.size)
        for det in found[str(path)]:
            assert det["score"] >= 0.2 and det["class"] in ("rectangle", "ellipse", "triangle")
            x1, y1, x2, y2 = det["box_xyxy"]  # in the original image's pixels, not the 96 px input
            assert 0 <= x1 < x2 <= original.size[0] and 0 <= y1 < y2 <= original.size[1]
            hits += any(_iou(det["box_xyxy"], t) >= 0.5 for t in truth)
        if found[str(path)]:  # something was drawn: the picture changed
            plain = original.convert("RGB").resize(drawn.size, Image.BILINEAR)
            assert not np.array_equal(np.asarray(drawn), np.asarray(plain))
    assert hits >= 4, found  # boxes land on the objects once mapped back to each image's own size


def test_detection_resume_matches_uninterrupted(det_config, small_shapes_det_dir, resumed_equals_full):
    # L1 switching on at epoch 1 makes the loss depend on set_epoch: a resume that lost the
    # epoch would train epoch 2 without it and end with different weights
    extra = """
    model:
      losses: [{criterion: yolox_loss, l1_activate_epoch: 1}]
    training: {epochs: 2}
    logging: {onnx_export: false, fx_export: false}
    """
    full, part = resumed_equals_full(det_config(extra, data=small_shapes_det_dir))
    ha = json.loads((full / "summary.json").read_text())["last"]
    hb = json.loads((part / "summary.json").read_text())["last"]
    assert ha["train_loss"] == hb["train_loss"] and ha["train_loss_l1"] == hb["train_loss_l1"]
    assert {"train_loss_iou", "train_loss_obj", "train_loss_cls", "train_loss_num_fg"} <= set(ha)


def test_l1_term_follows_the_epoch(det_config, small_shapes_det_dir):
    from nptrain.training.engine import Trainer

    paths = det_config("model:\n  losses: [{criterion: yolox_loss, l1_activate_epoch: 1}]\n", data=small_shapes_det_dir)
    trainer = Trainer(load_config(paths), name="l1", log=lambda _m: None)
    yolox = trainer.criterion.criteria[0]
    trainer.train_epoch(0, show=False)
    assert not yolox.l1_active and "l1" not in yolox.last
    trainer.train_epoch(1, show=False)
    assert yolox.l1_active and "l1" in yolox.last


def test_data_command_writes_shapes_det_in_both_formats(tmp_path, capsys):
    from nptrain.config.sections import DataConfig, DataPath, SplitPath
    from nptrain.detection.dataset import build_det_dataset

    out = tmp_path / "s"
    assert main(["data", "shapes-det", str(out), "--count", "12"]) == 0
    assert "wrote 12 train and 3 valid" in capsys.readouterr().out
    labels = sorted((out / "train" / "labels").iterdir())
    assert len(labels) == 12 and len(list((out / "train" / "images").iterdir())) == 12
    sizes = {Image.open(p).size for p in (out / "train" / "images").iterdir()}
    assert all(64 <= w <= 128 and 64 <= h <= 128 for w, h in sizes) and len(sizes) > 1
    yolo = build_det_dataset(DataConfig(path=DataPath(train=SplitPath(image=str(out / "train" / "images"),
                                                                       label=str(out / "train" / "labels"))),
                                        id_mapping=["rectangle", "ellipse", "triangle"]), "train")
    coco = build_det_dataset(DataConfig(path=DataPath(train=SplitPath(image=str(out / "train" / "images"),
                                                                       label=str(out / "train" / "coco.json")))),
                             "train")
    assert coco.classes == yolo.classes == ["rectangle", "ellipse", "triangle"]
    for i in range(12):
        a, b = yolo[i][1], coco[i][1]
        assert torch.equal(a["classes"], b["classes"])
        torch.testing.assert_close(a["boxes"], b["boxes"], atol=1e-3, rtol=0)  # YOLO files round to 6 digits
    assert main(["data", "shapes-det", str(out)]) == 2  # not empty: refused
    # the same seed writes the same files on every machine
    assert main(["data", "shapes-det", str(tmp_path / "again"), "--count", "12"]) == 0
    assert (tmp_path / "again" / "train" / "labels" / "0003.txt").read_text() == (out / "train" / "labels" / "0003.txt").read_text()


def test_bad_label_line_stops_the_run_naming_file_and_line(det_config, small_shapes_det_dir, tmp_path, capsys):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(small_shapes_det_dir, data)
    label = data / "train" / "labels" / "0003.txt"
    label.write_text("0 0.5 0.5 0.2 0.2\n7 0.5 0.5 0.1 0.1\n")
    assert main(["run", *det_config(data=data)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"nptrain: error: {label}:2: unknown class id 7 (the dataset has classes 0..2)"), err
    label.write_text("1 0.9 0.5 0.5 0.2\n")  # cx + w/2 = 1.15: far outside the image
    assert main(["run", *det_config(data=data)]) == 2
    assert f"{label}:1: box [" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # nothing was trained or written


def test_detection_without_id_mapping_or_with_a_csv_label_is_explained(det_config, small_shapes_det_dir, tmp_path,
                                                                       capsys):
    assert main(["run", *det_config("data: {id_mapping: null}\n", name="nomap", data=small_shapes_det_dir)]) == 2
    assert "data.id_mapping is required for YOLO labels" in capsys.readouterr().err
    csv = tmp_path / "labels.csv"
    csv.write_text("image_id,class\n")
    extra = f"data:\n  path:\n    train: {{label: {csv}}}\n"
    assert main(["run", *det_config(extra, name="csv", data=small_shapes_det_dir)]) == 2
    assert f"data.path.train.label: {csv} is a file but not .json" in capsys.readouterr().err


def _detection_presets():
    from nptrain.plugin_manager import default_plugins

    reg = default_plugins().registry
    # yolox_m/l/x are yolox_s's code at other multipliers (their layouts and sizes are checked on the meta device in
    # test_det_megvii.py); training them here would write 0.3-1.6 GB of weights and optimizer state per run
    big = {"yolox_m", "yolox_l", "yolox_x"}
    return [pytest.param(p.record.name, id=p.record.name) for p in reg.all("preset")
            if p.record.task == "detection" and (p.dist.startswith("np-plugin-") or p.dist == "nptrain")
            and p.dist != "np-plugin-tinynet" and p.record.name not in big]


@pytest.mark.parametrize("preset", _detection_presets())
def test_detection_preset_trains_one_epoch(preset, det_config, small_shapes_det_dir, tmp_path):
    """Every first-party detection preset (core and plugins) through `nptrain run` at 64 px."""
    import csv
    import math

    import nptrain

    extra = f"""
    augmentation:
      train: [{{name: resize, size: 64}}, {{name: normalize, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}}]
      inference: [{{name: resize, size: 64}}, {{name: normalize, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}}]
    model: {{name: {preset}}}
    training: {{epochs: 1, optimizer: {{name: adamw, lr: 0.0005}}}}
    logging: {{onnx_export: false, fx_export: false}}
    """
    assert main(["run", *det_config(extra, name=preset, data=small_shapes_det_dir)]) == 0
    run = next((tmp_path / "runs").rglob("summary.json")).parent
    rows = list(csv.DictReader((run / "results.csv").open()))
    assert len(rows) == 1 and math.isfinite(float(rows[0]["train_loss"])), rows
    summary = json.loads((run / "summary.json").read_text())
    expected = sum(p.numel() for p in nptrain.create_model(preset, task="detection", num_classes=3).parameters())
    assert summary["params"] == expected
    assert 0.0 <= summary["best"]["metrics"]["valid_map50"] <= 1.0


# valid: 4 tiles (128 px) with 28 nuclei. Untrained yolox_nano: mAP50 0.000; 20 epochs: 0.88 at the best epoch
# (11; mAP50:95 0.51, with YOLOX's corner grid) in ~35 s on one CPU thread
NUCLEI_MIN_MAP50 = 0.5


@pytest.mark.slow
@pytest.mark.skipif(not stardist_installed(), reason="the nuclei image ships with stardist (pip install --no-deps stardist)")
def test_real_nuclei_detection_learns_well_above_untrained(det_config, tmp_path):
    from nptrain.data.loader import make_loader
    from nptrain.modeling.builder import build_loss
    from nptrain.training.validation import evaluate
    from nptrain.training.setup import build_data, build_task_model, make_task_metric

    data = tmp_path / "nuclei"
    assert main(["data", "nuclei", str(data), "--task", "detection"]) == 0
    extra = """
    data: {id_mapping: [nucleus]}
    augmentation:
      train:
        - {name: resize, size: 128}
        - {name: randomhorizontalflip, p: 0.5}
        - {name: normalize, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}
      inference:
        - {name: resize, size: 128}
        - {name: normalize, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]}
    training: {epochs: 20}
    logging: {onnx_export: false, fx_export: false}
    """
    loaded = load_config(det_config(extra, name="nuc", data=data))
    torch.manual_seed(1)
    untrained_data = build_data(loaded, need_train=False)
    model = build_task_model(loaded, 1)
    loader = make_loader(untrained_data.valid, batch_size=8, shuffle=False, seed=1, num_workers=0)
    before = evaluate(model, loader, build_loss(loaded.resolved), make_task_metric(loaded, 1), "detection",
                      torch.device("cpu"))
    run = run_training(loaded, name="nuclei", log=lambda _m: None)
    best = json.loads((run / "summary.json").read_text())["best"]
    after = best["metrics"]["valid_map50"]
    assert before["map50"] <= 0.05, before
    assert after >= NUCLEI_MIN_MAP50 and after >= before["map50"] + 0.4, (before, best)
    assert best["per_class_boxes"] == {"nucleus": 28}
