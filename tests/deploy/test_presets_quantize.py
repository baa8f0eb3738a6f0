"""Every first-party preset exports to fp32 ONNX, quantizes to int8 QDQ with onnxruntime's tools
(the code path of ``nptrain quantize``) and its int8 model runs in onnxruntime with the fp32 output
shape (small inputs and two calibration images keep this fast).

Quantization time grows with the graph, not the input: the larger variants of a family (same
blocks, more of them or wider) take minutes each on a 2-core machine, so the default suite runs
the smallest preset of every family and task, and ``NPTRAIN_ALL_PRESETS=1`` runs all of them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import nptrain
from nptrain.deploy.calibration import CalibrationSet
from nptrain.deploy.ort_quant import quantize_onnx
from nptrain.deploy.runtime import open_onnx
from nptrain.export_tools import export_onnx_checked
from nptrain.plugin_manager import default_plugins
from tests.preset_selection import skip_larger_variant

SIZE = 64


class RandomImages:
    """The dataset protocol CalibrationSet reads: ``ds[(index, seed)] -> (image, target)``."""

    def __init__(self, count: int, shape: tuple[int, ...]) -> None:
        g = torch.Generator().manual_seed(0)
        self.images = [torch.randn(shape, generator=g) for _ in range(count)]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, item):
        return self.images[item[0]], {}


def first_party_presets():
    reg = default_plugins().registry
    return [pytest.param(p.record.name, p.record.task, id=f"{p.record.name}-{p.record.task}")
            for p in reg.all("preset") if p.dist.startswith("np-plugin-") and p.dist != "np-plugin-tinynet"]


@pytest.mark.slow  # 12 presets x (export + pre-process + calibrate + quantize): a few CPU-minutes in all
@pytest.mark.parametrize("preset,task", first_party_presets())
def test_preset_quantizes_and_runs_int8(preset, task, tmp_path: Path):
    skip_larger_variant(preset)
    torch.manual_seed(0)
    model = nptrain.create_model(preset, task=task, num_classes=4).eval()
    x = torch.randn(1, 3, SIZE, SIZE)
    fp32 = tmp_path / "model.onnx"
    export_onnx_checked(model, x, fp32, opset=17, dynamic_batch=False)
    int8 = tmp_path / "model_int8.onnx"
    info = quantize_onnx(fp32, int8, CalibrationSet(RandomImages(2, (3, SIZE, SIZE)), 2, seed=0))
    heavy = {op: n for op, n in info["ops"]["int8"].items() if op in ("Conv", "MatMul", "Gemm")}
    assert heavy, f"no Conv/MatMul/Gemm was quantized: {info['ops']}"
    ref = open_onnx(fp32)(x.numpy())
    got = open_onnx(int8)(x.numpy())
    assert got.shape == ref.shape
    assert np.isfinite(got).all()
    # int8 weights take about a quarter of fp32's; a model of a few hundred thousand parameters (yolo_fastest_v2,
    # 0.25M) is dominated by its graph and per-channel scales instead, so its file is held to its weight bytes
    assert _weight_bytes(int8) < 0.5 * _weight_bytes(fp32), "int8 weights should take about a quarter of fp32's"


def _weight_bytes(path: Path) -> int:
    """Bytes of the model's weight tensors (initializers of more than 64 elements: no scales, shapes, zero points)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    return sum(numpy_helper.to_array(t).nbytes for t in model.graph.initializer
               if numpy_helper.to_array(t).size > 64)
