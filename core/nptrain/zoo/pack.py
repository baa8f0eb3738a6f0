"""Pack a finished run into the local zoo, and validate an entry end to end.

Validation rebuilds the model from ``recipes/training.yaml`` and ``pytorch/model.safetensors``
(no pickle is loaded) and runs the stored sample inputs through PyTorch and onnxruntime.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from safetensors.torch import load_file, save_file

from nptrain.errors import UserError
from nptrain.export_tools import compare_outputs
from nptrain.zoo.card import ModelCard
from nptrain.zoo.stub import parse_stub
from nptrain.zoo.store import entry_dir, load_card, verify_manifest, write_manifest, zoo_root
from nptrain.config.loader import load_config
from nptrain.run_files import read_summary
from nptrain.zoo import quant_pack
from nptrain.zoo.quant_pack import is_quant_name

TOLERANCE = 1e-4  # relative to the largest |output|: float32 reordering noise, far below any real change
# int8 kernels differ between CPUs (AVX2's saturating u8s8 path, VNNI, AMX) and move an output by a few
# quantization steps; an altered or wrong model moves it by far more
INT8_TOLERANCE = 0.02
FP32_OUTPUTS = "fp32_outputs"  # quantized entries: PyTorch's outputs beside the artifact's own


def _load_run(run_dir: Path) -> tuple[Any, dict]:
    for name in ("config.yaml", "summary.json"):
        if not (run_dir / name).is_file():
            raise UserError(f"{run_dir}: no {name}; is this a finished nptrain run directory?")
    loaded = load_config([str(run_dir / "config.yaml")], check_files=False)

    return loaded, read_summary(run_dir)


def _rebuild(config_path: Path, weights: Path, num_classes: int) -> Optional[torch.nn.Module]:
    # lazy: layer (README map: zoo/ may not import training)
    from nptrain.training.run_model import has_architecture, rebuild_with_weights

    # model.fx_model_checkpoint stays as the run had it: it decides whether an architecture is configured
    loaded = load_config([str(config_path)], ["model.checkpoint=null"], check_files=False)
    if not has_architecture(loaded):
        return None  # a bare GraphModule run (packed with --trust-pickle): only onnxruntime is checked
    return rebuild_with_weights(loaded, num_classes, weights).eval()  # pruned shapes included


def _samples(loaded, n: int, shape: list[int]) -> tuple[torch.Tensor, Optional[list[int]]]:
    """Up to ``n`` validation images after the inference transforms, with labels; synthetic
    inputs (no labels) when the run's data is not reachable from here."""
    try:
        # lazy: layer (README map: zoo/ may not import training)
        from nptrain.training.setup import build_data

        valid = build_data(loaded, need_train=False).valid
        items = [valid[(i, 0)] for i in range(min(n, len(valid)))]
        return torch.stack([x for x, _ in items]), [int(t["label"]) for _, t in items]
    except Exception:  # noqa: BLE001 - data may live on another machine; fall back, say so in the card
        g = torch.Generator().manual_seed(0)
        return torch.randn([n] + shape, generator=g), None


def add_run(run_dir: str | Path, stub_text: str, *, root: Optional[Path] = None, samples: int = 4,
            force: bool = False, quantized: Optional[str] = None, repeats: int = 20,
            log: Callable[[str], None] = lambda _m: None) -> Path:
    """Pack ``run_dir`` as ``stub_text``. A quantized entry (SPARSE_NAME ``quant``/``prunedNN_quant``,
    ``--quantized DIR``, a ``RUN_DIR/quantized-*`` folder, or a stub ending in ``/auto``) ships the
    int8 ONNX as ``model.onnx``, named and categorised from its measured metric (see quant_pack)."""
    if repeats < 1:
        raise UserError(f"--repeats {repeats}: need at least one latency round")
    run_dir, quant_dir = quant_pack.split_target(Path(run_dir), quantized)
    loaded, summary = _load_run(run_dir)
    last_part = stub_text.strip().rpartition("/")[2]
    wants_quant = quant_dir is not None or last_part.split("-")[0] == quant_pack.AUTO
    if not wants_quant:
        stub = parse_stub(stub_text)
        wants_quant = quant_pack.is_quant_name(stub.sparse_name)
    plan = quant_pack.plan_quant(run_dir, quant_dir, stub_text, loaded, log) if wants_quant else None
    if plan is not None:
        stub = plan.stub
    if stub.sub_domain != loaded.model.task:
        raise UserError(f"stub SUB_DOMAIN {stub.sub_domain!r} does not match the run's task {loaded.model.task!r}")
    weights = run_dir / "weights" / "best.safetensors"
    if not weights.is_file():
        weights = run_dir / "weights" / "last.safetensors"
    onnx_file = plan.int8 if plan is not None else run_dir / "weights" / "model.onnx"
    if not weights.is_file() or not onnx_file.is_file():
        raise UserError(f"{run_dir}: needs weights/best.safetensors (or last) and weights/model.onnx")
    target = entry_dir(stub, root)
    if target.exists() and not force:
        raise UserError(f"zoo entry {stub} already exists (use --force to replace it)")
    classes = list(summary.get("classes") or [])
    num_classes = len(classes) or int(summary.get("num_classes", 0))
    with tempfile.TemporaryDirectory(dir=str((root or zoo_root()).parent if (root or zoo_root()).parent.exists() else None)) as tmp:
        work = Path(tmp) / "entry"
        (work / "pytorch").mkdir(parents=True)
        (work / "recipes").mkdir()
        shutil.copyfile(weights, work / "pytorch" / "model.safetensors")
        shutil.copyfile(onnx_file, work / "model.onnx")
        shutil.copyfile(run_dir / "config.yaml", work / "recipes" / "training.yaml")
        for extra in ("compression.yaml",):
            if (run_dir / extra).is_file():
                shutil.copyfile(run_dir / extra, work / "recipes" / extra)
        if plan is not None and (plan.folder / quant_pack.QUANT_RECORD).is_file():
            shutil.copyfile(plan.folder / quant_pack.QUANT_RECORD, work / "recipes" / quant_pack.QUANT_RECORD)
        if loaded.model.fx_model_checkpoint and (run_dir / "weights" / "model_fx.pt").is_file():
            # the compressor interchange file travels with the entry; it is copied, never loaded
            shutil.copyfile(run_dir / "weights" / "model_fx.pt", work / "pytorch" / "model_fx.pt")
        # lazy: layer (README map: zoo/ may not import training)
        from nptrain.training.run_model import load_run_model

        model = load_run_model(run_dir, loaded, num_classes, weights, log=lambda m: None)
        inputs, labels = _samples(loaded, samples, list(summary.get("input_shape") or [3, 224, 224]))
        with torch.no_grad():
            outputs = model.eval()(inputs)
        files = [("sample-inputs", "inputs", inputs), ("sample-outputs", "outputs", outputs)]
        if plan is not None:  # sample outputs come from the artifact itself; PyTorch's are kept beside them
            # lazy: layer (README map: zoo/ may not import deploy)
            from nptrain.deploy.runtime import open_artifact

            int8_out = torch.from_numpy(open_artifact(plan.int8)(inputs.numpy()).copy())
            files = [files[0], ("sample-outputs", "outputs", int8_out), ("sample-outputs", FP32_OUTPUTS, outputs)]
        for folder, name, tensor in files:
            (work / folder).mkdir(exist_ok=True)
            save_file({"outputs" if folder == "sample-outputs" else name: tensor.contiguous()},
                      str(work / folder / f"{name}.safetensors"))
        (work / "sample-labels").mkdir()
        (work / "sample-labels" / "labels.json").write_text(json.dumps(
            {"labels": labels, "classes": classes, "synthetic_inputs": labels is None}, indent=2) + "\n")
        best = summary.get("best") or {}
        metrics = {k[6:] if k.startswith("valid_") else k: float(v) for k, v in (best.get("metrics") or {}).items()
                   if isinstance(v, (int, float))}
        if not metrics and isinstance(best.get("value"), (int, float)):
            metrics = {str(best.get("key", "metric")).replace("valid_", ""): float(best["value"])}
        extra: dict[str, Any] = {}
        if plan is not None:
            fp32_value = metrics.get(plan.primary)
            metrics = dict(plan.metrics)  # the entry's model.onnx is the int8 artifact: its metrics
            extra = {"artifacts": quant_pack.artifact_rows(plan, model, inputs, fp32_value, weights, repeats),
                     "quantization": quant_pack.quantization_field(plan, threads=1)}
        card = ModelCard(stub=str(stub), task=loaded.model.task,
                         architecture=loaded.model.name or stub.architecture, dataset=loaded.run.data.name or stub.dataset,
                         metrics=metrics, params=int(summary.get("params", 0)), flops=summary.get("flops"),
                         sparsity=0.0 if stub.sparse_name == "base" else float(summary.get("sparsity", 0.0)),
                         num_classes=num_classes, class_names=classes, input_size=list(inputs.shape[1:]),
                         description=_description(run_dir, plan), **extra)
        (work / "model.md").write_text(card.render())
        write_manifest(work)
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(work), str(target))
    return target


def _description(run_dir: Path, plan: Any) -> str:
    text = f"Packed from run `{run_dir.name}` by `nptrain zoo add`."
    if plan is None:
        return text
    q = plan.baseline
    return (text + f" `model.onnx` is the int8 (QDQ) model of `{plan.folder.name}`; `pytorch/model.safetensors` "
            f"holds the fp32 weights it was quantized from. SPARSE_CATEGORY {plan.category}: {plan.primary} "
            f"{plan.metrics[plan.primary]:.4f} against the dense baseline's {q.value:.4f} (run `{Path(q.source).name}`); "
            "conservative keeps 100 %, moderate at least 99 %, aggressive less. `sample-outputs/outputs.safetensors` "
            f"are the int8 model's outputs, `sample-outputs/{FP32_OUTPUTS}.safetensors` PyTorch's. Latencies: batch 1, "
            "one thread, on the machine that packed the entry (see `quantization.latency_cpu`).")


def validate_entry(stub_text: str, *, root: Optional[Path] = None) -> dict[str, float]:
    """Check the manifest, then PyTorch and onnxruntime against the stored sample outputs."""
    folder, card = load_card(stub_text, root)
    problems = verify_manifest(folder)
    if problems:
        raise UserError(f"zoo entry {stub_text}: {'; '.join(problems)}")
    inputs = load_file(str(folder / "sample-inputs" / "inputs.safetensors"))["inputs"]
    expected = load_file(str(folder / "sample-outputs" / "outputs.safetensors"))["outputs"]

    quant = is_quant_name(parse_stub(card.stub).sparse_name)
    fp32_file = folder / "sample-outputs" / f"{FP32_OUTPUTS}.safetensors"
    if quant and not fp32_file.is_file():
        raise UserError(f"zoo entry {stub_text}: a quantized entry needs sample-outputs/{fp32_file.name} "
                        "(PyTorch's outputs for the fp32 weights); re-pack it with nptrain zoo add")
    fp32_expected = load_file(str(fp32_file))["outputs"] if quant else expected
    model = _rebuild(folder / "recipes" / "training.yaml", folder / "pytorch" / "model.safetensors", card.num_classes)
    report: dict[str, float] = {}
    bad: dict[str, float] = {}
    if model is not None:
        with torch.no_grad():
            torch_check = compare_outputs(fp32_expected, model(inputs))
        report["pytorch_max_abs_diff"] = torch_check["max_abs_diff"]
        if torch_check["max_abs_diff"] > TOLERANCE * max(torch_check["scale"], 1.0):
            bad["pytorch_max_abs_diff"] = torch_check["max_abs_diff"]
    # lazy: layer (README map: zoo/ may not import deploy)
    from nptrain.deploy.runtime import open_artifact

    got = open_artifact(folder / "model.onnx")(inputs.numpy())
    check = compare_outputs(expected, torch.from_numpy(got))  # NaN/inf at other places raise here
    key = "onnxruntime_int8_max_abs_diff" if quant else "onnxruntime_max_abs_diff"
    report[key] = check["max_abs_diff"]
    if check["max_abs_diff"] > (INT8_TOLERANCE if quant else TOLERANCE) * max(check["scale"], 1.0):
        bad[key] = check["max_abs_diff"]
    if bad:
        raise UserError(f"zoo entry {stub_text}: outputs differ from sample-outputs: "
                        + ", ".join(f"{k} {v:.3g}" for k, v in bad.items()))
    return report
