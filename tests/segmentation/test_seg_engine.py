"""End-to-end segmentation with the core alone: `nptrain data shapes`, run, export parity,
evaluate (per-class IoU), predict (mask PNGs), resume; plus the real nuclei tiles when available."""
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
from nptrain.training.engine import run_training

# chance levels on the shapes valid split: all-background gives mIoU ≈ 0.21 (84 % of pixels are
# background, 3 shape classes at 0); 3 epochs of simple_cnn_seg on 384 images reach about 0.44
SHAPES_MIN_MIOU = 0.38


@pytest.mark.slow
def test_shapes_run_learns_exports_evaluates_predicts(seg_config, shapes_dir, tmp_path, capsys):
    paths = seg_config()
    assert main(["run", *paths]) == 0
    run = tmp_path / "runs" / "segmentation" / "simple_cnn_seg"
    summary = json.loads((run / "summary.json").read_text())
    best = summary["best"]
    assert best["key"] == "valid_miou" and best["value"] >= SHAPES_MIN_MIOU, best
    assert set(best["per_class_iou"]) == {"background", "disc", "square", "triangle"}
    assert best["per_class_iou"]["background"] > 0.9
    assert summary["classes"] == ["background", "disc", "square", "triangle"]
    onnx = summary["export"]["onnx"]
    assert onnx["ok"] and onnx["max_abs_diff"] < 1e-4, onnx
    assert summary["export"]["fx"]["ok"] and summary["input_shape"] == [3, 64, 64]
    out = capsys.readouterr().out
    assert "class" in out and "triangle" in out  # the per-class table closes the run

    assert main(["evaluate", str(run), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["miou"] == pytest.approx(best["value"])
    assert metrics["per_class_iou"] == pytest.approx(best["per_class_iou"])
    assert main(["evaluate", str(run)]) == 0
    table = capsys.readouterr().out
    assert "miou" in table and "square" in table and "IoU" in table

    img = shapes_dir / "valid" / "images" / "0000.png"
    big = tmp_path / "big.png"  # another size: the mask comes back at the image's own size
    Image.open(img).resize((80, 72)).save(big)
    preds = tmp_path / "preds"
    assert main(["predict", str(run), str(img), str(big), "-o", str(preds)]) == 0
    mask = np.asarray(Image.open(preds / "0000_mask.png"))
    assert mask.shape == (64, 64) and mask.max() < 4
    assert np.asarray(Image.open(preds / "big_mask.png")).shape == (72, 80)
    overlay = Image.open(preds / "0000_overlay.png")
    # enlarged 4x so the legend strip below it (one swatch + name per class) reads
    assert overlay.mode == "RGB" and overlay.width == 256 and overlay.height > 256
    truth = np.asarray(Image.open(shapes_dir / "valid" / "masks" / "0000.png"))
    assert (mask == truth).mean() > 0.8


def test_segmentation_resume_matches_uninterrupted(seg_config, small_shapes_dir, resumed_equals_full):
    extra = """
    training: {epochs: 2}
    logging: {onnx_export: false, fx_export: false, csv: true}
    """
    full, part = resumed_equals_full(seg_config(extra, data=small_shapes_dir))
    sa, sb = (json.loads((d / "summary.json").read_text())["best"] for d in (full, part))
    assert sa["value"] == sb["value"] and sa["per_class_iou"] == sb["per_class_iou"]


def test_data_command_writes_shapes(tmp_path, capsys):
    assert main(["data", "shapes", str(tmp_path / "s"), "--count", "8"]) == 0
    assert "wrote 8 train and 2 valid" in capsys.readouterr().out
    masks = sorted((tmp_path / "s" / "train" / "masks").iterdir())
    assert len(masks) == 8 and Image.open(masks[0]).mode == "P"
    assert main(["data", "shapes", str(tmp_path / "s")]) == 2  # not empty: refused


# all-background on the nuclei valid tiles: pixel accuracy 0.83, mIoU 0.415; 4 epochs reach about 0.85
NUCLEI_MIN_MIOU = 0.70


@pytest.mark.slow
@pytest.mark.skipif(not stardist_installed(), reason="the nuclei image ships with stardist (pip install --no-deps stardist)")
def test_real_nuclei_learns_well_above_chance(seg_config, tmp_path):
    data = tmp_path / "nuclei"
    assert main(["data", "nuclei", str(data)]) == 0
    extra = """
    data: {id_mapping: [background, nucleus]}
    training: {epochs: 4}
    logging: {onnx_export: false, fx_export: false}
    """
    run = run_training(load_config(seg_config(extra, name="nuc", data=data)), name="nuclei", log=lambda _m: None)
    best = json.loads((run / "summary.json").read_text())["best"]
    assert best["value"] >= NUCLEI_MIN_MIOU, best
    assert best["per_class_iou"]["nucleus"] >= 0.55, best
