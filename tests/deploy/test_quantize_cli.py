"""``nptrain quantize`` / ``evaluate --artifact`` / per-format benchmark on a small real run (digits):
int8 accuracy within one point of fp32, and the bad-input cases of issue 14."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from nptrain.cli.main import main


@pytest.fixture
def run_copy(trained_run: Path, tmp_path: Path) -> Path:
    """A private copy of the shared digits run (quantize writes into the run directory)."""
    dest = tmp_path / "run"
    shutil.copytree(trained_run, dest, ignore=shutil.ignore_patterns("quantized-*", "artifact-metrics.json"))
    return dest


def _json_line(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_int8_within_one_point_of_fp32(run_copy: Path, capsys):
    assert main(["quantize", str(run_copy), "--calib", "64"]) == 0
    out = run_copy / "quantized-minmax"
    record = YAML(typ="safe").load((out / "quantization.yaml").read_text())
    assert record["calibration"] == {"requested": 64, "used": 64, "split": "train", "transforms": "inference",
                                     "seed": 1}
    assert record["onnx"]["per_channel"] is True and record["onnx"]["quant_format"] == "QDQ"
    assert record["onnx"]["op_types_int8"]["Conv"] >= 10  # simple_cnn's convolutions all run in int8
    assert set(record["versions"]) >= {"onnxruntime", "onnx", "torch", "nptrain"}
    assert "AVX2" in (out / "report.md").read_text() or record["cpu"]["int8_features"] == []
    # the default is auto: 7-bit weights exactly when this CPU lacks VNNI/AMX int8
    native = record["cpu"]["vnni"] or record["cpu"]["amx"]
    assert record["onnx"]["reduce_range"] is (not native)
    assert record["onnx"]["reduce_range_why"].startswith("auto: ")
    capsys.readouterr()
    assert main(["evaluate", str(run_copy), "--json"]) == 0
    torch_top1 = _json_line(capsys)["top1_accuracy"]
    assert main(["evaluate", str(run_copy), "--artifact", str(run_copy / "weights" / "model.onnx"), "--json"]) == 0
    fp32 = _json_line(capsys)
    assert main(["evaluate", str(run_copy), "--artifact", str(out / "model_int8.onnx"), "--json"]) == 0
    int8 = _json_line(capsys)
    assert fp32["samples"] == int8["samples"] == 359
    assert fp32["top1_accuracy"] == pytest.approx(torch_top1, abs=1 / 359)  # same metric code, same images
    assert abs(int8["top1_accuracy"] - fp32["top1_accuracy"]) <= 0.01
    cache = json.loads((run_copy / "artifact-metrics.json").read_text())
    assert cache["quantized-minmax/model_int8.onnx"]["metrics"]["top1_accuracy"] == int8["top1_accuracy"]
    # the per-format benchmark rows reuse those cached metrics
    from nptrain.compression.source import load_model_source
    from nptrain.deploy.format_bench import format_rows

    src = load_model_source(str(run_copy))
    rows = format_rows(src.model, run_copy, tuple(src.input_size), repeats=3, threads=1, evaluate_missing=False)
    by_label = {r["label"]: r for r in rows}
    assert by_label["onnxruntime int8 (minmax)"]["value"] == int8["top1_accuracy"]
    assert by_label["onnxruntime fp32"]["value"] == fp32["top1_accuracy"]
    assert by_label["onnxruntime int8 (minmax)"]["size_bytes"] < 0.5 * by_label["onnxruntime fp32"]["size_bytes"]
    assert all(r["p90_ms"] >= r["median_ms"] > 0 for r in rows)


def test_missing_onnx_is_exported_first_and_short_calibration_says_so(run_copy: Path, capsys):
    (run_copy / "weights" / "model.onnx").unlink()
    assert main(["quantize", str(run_copy), "--calib", "100000", "--method", "percentile", "--per-tensor"]) == 0
    text = capsys.readouterr().out
    assert "no weights/model.onnx; exporting" in text
    assert "fewer than --calib 100000; calibrating on all 1438" in text
    out = run_copy / "quantized-percentile"
    assert (out / "model.onnx").is_file() and (out / "model_int8.onnx").is_file()
    record = YAML(typ="safe").load((out / "quantization.yaml").read_text())
    assert record["calibration"]["used"] == 1438 and record["exported_here"] is True
    assert record["onnx"]["per_channel"] is False and record["onnx"]["method"] == "percentile"
    assert not (run_copy / "weights" / "model.onnx").exists()  # the run's own folder is left alone


def test_keep_float_leaves_op_types_in_float(run_copy: Path, capsys):
    assert main(["quantize", str(run_copy), "--calib", "8", "--keep-float", "Gemm", "-o", str(run_copy / "kf")]) == 0
    record = YAML(typ="safe").load((run_copy / "kf" / "quantization.yaml").read_text())
    assert record["onnx"]["op_types_kept_in_float"]["Gemm"] == 1 and "Gemm" not in record["onnx"]["op_types_int8"]
    capsys.readouterr()
    assert main(["quantize", str(run_copy), "--calib", "8", "--keep-float", "Softmax", "-o", str(run_copy / "kf")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nptrain: error: --keep-float: the model has no Softmax nodes") and "\n" not in err


def _int8_weight_peak(path: Path) -> int:
    """The largest |value| among the model's int8 initializers (the quantized weights)."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    return max(int(np.abs(numpy_helper.to_array(t).astype(np.int32)).max())
               for t in graph.initializer if t.data_type == onnx.TensorProto.INT8 and t.dims)


@pytest.mark.parametrize("vnni, flags, expected, why", [
    (False, [], True, "auto: no VNNI/AMX on this CPU"),
    (True, [], False, "auto: this CPU has VNNI int8 dot products"),
    (False, ["--no-reduce-range"], False, "forced off with --no-reduce-range"),
    (True, ["--reduce-range"], True, "forced on with --reduce-range"),
])
def test_reduce_range_follows_the_cpu_probe_unless_forced(run_copy: Path, monkeypatch, capsys, vnni, flags, expected, why):
    import nptrain.deploy.quantize as quantize

    fake = {"model": "test CPU", "int8_features": ["AVX2"] + (["AVX-512 VNNI"] if vnni else []), "vnni": vnni, "amx": False}
    monkeypatch.setattr(quantize, "cpu_info", lambda: fake)  # the name quantize() calls (imported at module level)
    out = run_copy / "rr"
    assert main(["quantize", str(run_copy), "--calib", "8", "-o", str(out), *flags]) == 0
    assert f"reduce_range {'on' if expected else 'off'} ({why})" in capsys.readouterr().out
    record = YAML(typ="safe").load((out / "quantization.yaml").read_text())
    assert record["cpu"] == fake and record["onnx"]["reduce_range"] is expected and record["onnx"]["reduce_range_why"] == why
    assert why in (out / "report.md").read_text()
    # the choice reaches onnxruntime: 7-bit symmetric weights stay within +-64, 8-bit ones reach 127
    assert _int8_weight_peak(out / "model_int8.onnx") == (64 if expected else 127)


def _export(tmp_path: Path, name: str, classes: int, size: int) -> Path:
    import torch

    import nptrain
    from nptrain.export_tools import export_onnx_checked

    model = nptrain.create_model("simple_cnn", task="classification", num_classes=classes).eval()
    path = tmp_path / name
    export_onnx_checked(model, torch.randn(1, 3, size, size), path, opset=17, dynamic_batch=False)
    return path


def test_mismatched_artifact_is_a_located_error(run_copy: Path, tmp_path: Path, capsys):
    wrong_classes = _export(tmp_path, "three.onnx", 3, 32)
    assert main(["evaluate", str(run_copy), "--artifact", str(wrong_classes)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"nptrain: error: {wrong_classes}: output shape [1, 3] gives 3 classes; the run has 10 "
                          f"({run_copy}/classes.json")
    wrong_size = _export(tmp_path, "big.onnx", 10, 48)
    assert main(["evaluate", str(run_copy), "--artifact", str(wrong_size)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"nptrain: error: {wrong_size}: input shape [1, 3, 48, 48] does not match the run's "
                          "images [1, 3, 32, 32]") and "\n" not in err
    assert main(["evaluate", str(run_copy), "--artifact", str(tmp_path / "nope.onnx")]) == 2
    assert "nope.onnx: file not found" in capsys.readouterr().err


def test_missing_openvino_is_one_line_error(run_copy: Path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino -> ImportError
    assert main(["quantize", str(run_copy), "--format", "openvino"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("nptrain: error: --format openvino needs the openvino package: pip install openvino "
                   "(and nncf for OpenVINO int8)")
    assert not (run_copy / "quantized-minmax").exists()  # failed before any work
    xml = run_copy / "model.xml"
    xml.write_text("<net/>")
    assert main(["evaluate", str(run_copy), "--artifact", str(xml)]) == 2
    assert "needs the openvino package: pip install openvino" in capsys.readouterr().err


def test_openvino_ir_fp32_fp16_int8(run_copy: Path, capsys):
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    assert main(["quantize", str(run_copy), "--format", "openvino", "--calib", "32"]) == 0
    ov_dir = run_copy / "quantized-minmax" / "openvino"
    for kind in ("fp32", "fp16", "int8"):
        assert (ov_dir / f"model_{kind}.xml").is_file() and (ov_dir / f"model_{kind}.bin").is_file()
    capsys.readouterr()
    assert main(["evaluate", str(run_copy), "--artifact", str(run_copy / "weights" / "model.onnx"), "--json"]) == 0
    fp32 = _json_line(capsys)["top1_accuracy"]
    for kind, tolerance in (("fp32", 1 / 359), ("int8", 0.02)):
        assert main(["evaluate", str(run_copy), "--artifact", str(ov_dir / f"model_{kind}.xml"), "--json"]) == 0
        res = _json_line(capsys)
        assert res["runtime"] == "openvino" and abs(res["top1_accuracy"] - fp32) <= tolerance, (kind, res, fp32)
