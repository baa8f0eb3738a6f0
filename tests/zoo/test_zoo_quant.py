"""Quantized zoo entries: ``zoo add`` names a quantized run ``quant-<category>`` from its measured int8
metric against the baseline, the card lists each artifact's metric and latency, the sample outputs
come from the int8 file, and validate / pull / tampering handle the entry like any other."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from safetensors.torch import load_file

from nptrain.cli.main import main
from nptrain.errors import UserError
from nptrain.zoo import store
from nptrain.zoo.pack import add_run, validate_entry
from nptrain.zoo.quant_pack import sparse_category
from nptrain.zoo.remote import pull, write_index

PREFIX = "cv/classification/simple_cnn/pytorch/nptrain/digits"


def test_sparse_category_thresholds():
    assert sparse_category(0.95, 0.95) == "conservative"
    assert sparse_category(0.96, 0.95) == "conservative"  # better than the baseline still keeps 100 %
    assert sparse_category(0.9405, 0.95) == "moderate"  # 99.0 %
    assert sparse_category(0.9404, 0.95) == "aggressive"  # 98.99 %
    assert sparse_category(0.0, 0.0) == "conservative"


@pytest.fixture(scope="module")
def quantized_run(trained_run: Path, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("quant_zoo") / "run"
    shutil.copytree(trained_run, run, ignore=shutil.ignore_patterns("quantized-*", "artifact-metrics.json"))
    assert main(["quantize", str(run), "--calib", "16"]) == 0
    return run


def _expected_category(run: Path) -> tuple[float, float, str]:
    summary = json.loads((run / "summary.json").read_text())
    base = summary["best"]["metrics"]["valid_top1_accuracy"]
    assert main(["evaluate", str(run), "--artifact", str(run / "quantized-minmax" / "model_int8.onnx")]) == 0
    cache = json.loads((run / "artifact-metrics.json").read_text())
    int8 = cache["quantized-minmax/model_int8.onnx"]["metrics"]["top1_accuracy"]
    return int8, base, sparse_category(int8, base)


def test_quant_entry_named_from_metric_card_samples_validate_pull(quantized_run: Path, tmp_path: Path, serve, capsys):
    int8, base, category = _expected_category(quantized_run)
    zoo = tmp_path / "zoo"
    # a quantized-* folder is accepted as the target; /auto lets nptrain choose the name and category
    folder = add_run(quantized_run / "quantized-minmax", f"{PREFIX}/auto", root=zoo, repeats=3)
    stub = f"{PREFIX}/quant-{category}"
    assert folder == store.entry_dir(stub, zoo)
    _, card = store.load_card(stub, zoo)
    assert card.metrics["top1_accuracy"] == int8  # the entry's model.onnx is the int8 file: its metric
    assert card.quantization["category"] == category and card.quantization["baseline_value"] == base
    assert card.quantization["method"] == "minmax" and card.quantization["calibration_images"] == 16
    rows = {r["format"]: r for r in card.artifacts}
    assert rows["PyTorch fp32"]["value"] == base and rows["onnxruntime int8 (QDQ)"]["value"] == int8
    assert all(r["latency_ms"] > 0 and r["size_bytes"] > 0 for r in card.artifacts)
    assert (folder / "model.onnx").read_bytes() == (quantized_run / "quantized-minmax" / "model_int8.onnx").read_bytes()
    assert (folder / "recipes" / "quantization.yaml").is_file()
    # sample outputs come from the int8 artifact itself; PyTorch's fp32 outputs are kept beside them
    from nptrain.deploy.runtime import open_artifact

    inputs = load_file(str(folder / "sample-inputs" / "inputs.safetensors"))["inputs"]
    outputs = load_file(str(folder / "sample-outputs" / "outputs.safetensors"))["outputs"]
    fp32 = load_file(str(folder / "sample-outputs" / "fp32_outputs.safetensors"))["outputs"]
    assert (outputs.numpy() == open_artifact(quantized_run / "quantized-minmax" / "model_int8.onnx")(inputs.numpy())).all()
    assert not (outputs == fp32).all()  # int8 is not fp32: the two files really differ
    report = validate_entry(stub, root=zoo)
    assert report["pytorch_max_abs_diff"] == 0.0 and report["onnxruntime_int8_max_abs_diff"] == 0.0
    # served and pulled into a clean cache like any entry; the manifest rules apply unchanged
    write_index(zoo)
    pulled = pull(stub, base_url=serve(zoo), root=tmp_path / "cache", progress=False)
    assert (pulled / "sample-outputs" / "fp32_outputs.safetensors").is_file()
    assert validate_entry(stub, root=tmp_path / "cache")["onnxruntime_int8_max_abs_diff"] == 0.0
    assert store.weights_path(stub, tmp_path / "cache").is_file()  # what model.checkpoint: zoo:STUB loads
    # a tampered int8 file fails validation by checksum
    onnx_file = folder / "model.onnx"
    onnx_file.write_bytes(onnx_file.read_bytes()[:-4] + b"abcd")
    with pytest.raises(UserError, match="model.onnx: checksum mismatch"):
        validate_entry(stub, root=zoo)


def test_explicit_stub_must_match_the_measured_category(quantized_run: Path, tmp_path: Path, capsys, monkeypatch):
    _, _, category = _expected_category(quantized_run)
    wrong = next(c for c in ("conservative", "moderate", "aggressive") if c != category)
    capsys.readouterr()
    code = main(["zoo", "add", str(quantized_run), "--stub", f"{PREFIX}/quant-{wrong}", "--repeats", "2"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert err.startswith(f"nptrain: error: stub '{PREFIX}/quant-{wrong}': this entry measures as quant-{category}")
    assert f"use {PREFIX}/quant-{category}" in err
    # the right name through the CLI, with the run directory and --quantized
    monkeypatch.setenv("NPTRAIN_ZOO", str(tmp_path / "zoo"))
    assert main(["zoo", "add", str(quantized_run), "--quantized", "quantized-minmax",
                 "--stub", f"{PREFIX}/quant-{category}-cpu", "--repeats", "2"]) == 0
    assert main(["zoo", "validate", f"{PREFIX}/quant-{category}-cpu"]) == 0
    assert "onnxruntime_int8_max_abs_diff" in capsys.readouterr().out


def test_quant_stub_without_quantized_folder_says_what_to_run(trained_run: Path, tmp_path: Path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run, ignore=shutil.ignore_patterns("quantized-*", "artifact-metrics.json"))
    assert main(["zoo", "add", str(run), "--stub", f"{PREFIX}/quant-moderate"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"nptrain: error: {run}: no quantized-*/model_int8.onnx; run `nptrain quantize {run}` first"
    assert main(["zoo", "add", str(run), "--stub", f"{PREFIX}/auto", "--quantized", str(tmp_path)]) == 2
    assert f"--quantized {tmp_path}: no model_int8.onnx there" in capsys.readouterr().err


def test_pruned_run_is_named_pruned_quant_against_the_dense_baseline(tmp_path: Path):
    """A run retrained from `nptrain compress` output: NN from compression.yaml's parameter counts,
    baseline from the dense run the pruning started from (found beside the compressed folder)."""
    from types import SimpleNamespace

    from nptrain.zoo.quant_pack import _name_for, baseline_of

    dense = tmp_path / "dense"
    compressed = dense / "compressed-l1-0.5"
    compressed.mkdir(parents=True)
    (dense / "summary.json").write_text(json.dumps({"best": {"metrics": {"valid_top1_accuracy": 0.98}}}))
    (compressed / "compression.yaml").write_text("source: somewhere/typed/elsewhere\nparams_before: 1000\n"
                                                 "params_after: 260\n")
    pruned = tmp_path / "pruned"
    pruned.mkdir()
    (pruned / "summary.json").write_text(json.dumps({"best": {"metrics": {"valid_top1_accuracy": 0.975}}}))
    loaded = SimpleNamespace(model=SimpleNamespace(fx_model_checkpoint=str(compressed / "model.safetensors")))
    base = baseline_of(pruned, loaded, "top1_accuracy", log=lambda _m: None)
    assert (base.value, base.pruned_percent, Path(base.source)) == (0.98, 74, dense.resolve())
    assert sparse_category(0.975, base.value) == "moderate"  # 99.5 % of the dense model, not of the pruned one
    assert str(_name_for(f"{PREFIX}/auto-edge", "pruned74_quant", "moderate")) == f"{PREFIX}/pruned74_quant-moderate-edge"
    # no compression record: a plain quant entry against the run's own metric
    plain = baseline_of(pruned, SimpleNamespace(model=SimpleNamespace(fx_model_checkpoint=None)), "top1_accuracy",
                        log=lambda _m: None)
    assert (plain.value, plain.pruned_percent) == (0.975, None)
    with pytest.raises(UserError, match="no best valid_miou"):
        baseline_of(pruned, loaded, "miou", log=lambda _m: None)


def test_zero_latency_rounds_is_a_one_line_error(tmp_path: Path, capsys):
    assert main(["zoo", "add", str(tmp_path), "--stub", f"{PREFIX}/auto", "--repeats", "0"]) == 2
    assert capsys.readouterr().err.strip() == "nptrain: error: --repeats 0: need at least one latency round"
