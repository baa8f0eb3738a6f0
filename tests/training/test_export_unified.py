"""One export path: `run` and `nptrain export` write the same ONNX (names, dynamic batch, opset, including
opsets below 18), `export` never replaces the run's own files unless forced, and it names the weights used."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from nptrain.cli.main import main
from nptrain.config.loader import load_config
from nptrain.training.engine import run_training


def _io(path: Path) -> tuple[int, list, list]:
    """(opset, [(input name, dims)], [(output name, dims)]) of an ONNX file; a dynamic dim reads as its name."""
    model = onnx.load(str(path))

    def dims(values):
        return [(v.name, [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]) for v in values]

    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    return opset, dims(model.graph.input), dims(model.graph.output)


@pytest.fixture(scope="module")
def opset17_run(tmp_path_factory, digits_dir) -> Path:
    from tests.training.conftest import SMALL_CONFIG

    tmp = tmp_path_factory.mktemp("opset17")
    cfg = tmp / "cfg.yaml"
    cfg.write_text(SMALL_CONFIG.format(out=tmp / "runs", data=digits_dir)
                   .replace("onnx_export: false", "onnx_export: true\n  onnx_opset: 17")
                   .replace("fx_export: false", "fx_export: true").replace("epochs: 2", "epochs: 1"))
    return run_training(load_config([str(cfg)]), name="op17", log=lambda _m: None)


def test_run_honours_an_opset_below_18_and_config_and_summary_agree(opset17_run):
    summary = json.loads((opset17_run / "summary.json").read_text())
    onnx_res = summary["export"]["onnx"]
    assert onnx_res["ok"] and onnx_res["opset"] == 17 and onnx_res["weights"] == "best"
    assert onnx_res["exporter"] == "torchscript" and onnx_res["max_abs_diff"] < 1e-4
    assert "onnx_opset: 17" in (opset17_run / "config.yaml").read_text()
    opset, inputs, outputs = _io(opset17_run / "weights" / "model.onnx")
    assert opset == 17
    assert inputs == [("images", ["batch", 3, 16, 16])] and outputs == [("logits", ["batch", 10])]


def test_export_writes_what_run_wrote_into_exports_and_names_the_weights(opset17_run, capsys):
    run_fx = opset17_run / "weights" / "model_fx.pt"
    before = run_fx.read_bytes()
    assert main(["export", str(opset17_run)]) == 0
    out = capsys.readouterr().out
    assert f"weights: {opset17_run / 'weights' / 'best.safetensors'} (best epoch 1, top1_accuracy " in out
    exported = opset17_run / "exports" / "model-best-opset17.onnx"
    assert f"wrote {exported} (opset 17, dynamic batch, input 'images', output 'logits')" in out
    # the same names, axes and opset as the run's file, and the same numbers for the same weights
    assert _io(exported) == _io(opset17_run / "weights" / "model.onnx")
    x = np.random.default_rng(0).standard_normal((3, 3, 16, 16)).astype(np.float32)
    ours, runs = (ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]
                  for p in (exported, opset17_run / "weights" / "model.onnx"))
    np.testing.assert_allclose(ours, runs, atol=1e-5)
    # --format fx goes to exports/ too: the run's weights/model_fx.pt stays as it was
    assert main(["export", str(opset17_run), "--format", "fx", "--weights", "last"]) == 0
    out = capsys.readouterr().out
    assert f"weights: {opset17_run / 'weights' / 'last.safetensors'} (last epoch 1)" in out
    assert (opset17_run / "exports" / "model-last_fx.pt").is_file() and run_fx.read_bytes() == before


def test_export_refuses_to_overwrite_the_runs_own_files_unless_forced(opset17_run, capsys):
    target = opset17_run / "weights" / "model.onnx"
    before = target.read_bytes()
    assert main(["export", str(opset17_run), "--opset", "16", "--static-batch", "-o", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"nptrain: error: {target} is the run's own file; pass --force (force=True) to overwrite it, "
                   f"or write elsewhere with -o (default: {opset17_run / 'exports'}/)")
    assert target.read_bytes() == before
    assert main(["export", str(opset17_run), "--opset", "16", "--static-batch", "-o", str(target), "--force"]) == 0
    assert _io(target)[0] == 16 and _io(target)[2] == [("logits", [1, 10])]
