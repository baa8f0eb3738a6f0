"""Quantized zoo entries: which ``quantized-*`` folder of a run is packed, its SparseZoo name
(``quant`` or ``prunedNN_quant``) and SPARSE_CATEGORY chosen from the measured int8 metric against
the baseline, and the card rows (metric and latency of each artifact in the entry).

SparseZoo's categories compare a sparsified model with its dense baseline: ``conservative`` keeps
100 % of the baseline metric, ``moderate`` at least 99 %, ``aggressive`` less. The baseline of a
``quant`` entry is the run's own fp32 validation metric (``summary.json``); for a run retrained from
``nptrain compress`` output it is the dense run the pruning started from (``compression.yaml``'s
``source``), so a ``prunedNN_quant`` category covers pruning and quantization together.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

import attrs

from nptrain.errors import UserError
from nptrain.zoo.stub import Stub, parse_stub
from nptrain.config.bounded_yaml import load_yaml, read_text_capped
from nptrain.run_files import read_run_json

INT8_FILE = "model_int8.onnx"
QUANT_RECORD = "quantization.yaml"
AUTO = "auto"


def sparse_category(value: float, baseline: float) -> str:
    """SparseZoo's SPARSE_CATEGORY of a model scoring ``value`` where the dense baseline scores
    ``baseline`` (a higher-is-better metric: top-1, mIoU, mAP)."""
    if value >= baseline - 1e-9 * max(abs(baseline), 1.0):  # equal up to float noise: 100 % kept
        return "conservative"
    if baseline > 0 and value / baseline >= 0.99:
        return "moderate"
    return "aggressive"


def is_quant_name(sparse_name: str) -> bool:
    return sparse_name == "quant" or sparse_name.endswith("_quant")


def split_target(path: Path, quantized: Optional[str]) -> tuple[Path, Optional[Path]]:
    """``(run_dir, quantized folder or None)``: ``zoo add`` accepts a run directory (with ``--quantized``)
    or one of its ``quantized-*`` folders directly."""
    if quantized is None and (path / QUANT_RECORD).is_file() and (path.parent / "config.yaml").is_file():
        return path.parent, path
    if quantized is None:
        return path, None
    q = Path(quantized)
    if not q.is_absolute() and not q.exists() and (path / q).exists():
        q = path / q  # --quantized quantized-minmax, relative to the run
    return path, q


def find_quantized(run_dir: Path, given: Optional[Path]) -> Path:
    """The quantized folder to pack: ``given``, else the run's only ``quantized-*`` folder holding an
    int8 ONNX."""
    if given is not None:
        if not (given / INT8_FILE).is_file():
            raise UserError(f"--quantized {given}: no {INT8_FILE} there (nptrain quantize {run_dir} writes one)")
        return given
    found = sorted(p.parent for p in run_dir.glob(f"quantized-*/{INT8_FILE}"))
    if not found:
        raise UserError(f"{run_dir}: no quantized-*/{INT8_FILE}; run `nptrain quantize {run_dir}` first")
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise UserError(f"{run_dir}: several quantized folders ({names}); choose one with --quantized {found[0].name}")
    return found[0]


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = load_yaml(read_text_capped(path, 1 << 20, what=path.name), str(path))
    return data if isinstance(data, dict) else {}


def _summary_metric(run_dir: Path, primary: str) -> Optional[float]:
    summary = read_run_json(run_dir, "summary.json") or {}
    value = ((summary.get("best") or {}).get("metrics") or {}).get(f"valid_{primary}")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@attrs.define
class Baseline:
    metric: str
    value: float
    source: str  # the run directory whose summary.json holds it
    pruned_percent: Optional[int]  # None: the packed run was not pruned


def baseline_of(run_dir: Path, loaded: Any, primary: str, log: Callable[[str], None]) -> Baseline:
    """The dense baseline the category is measured against (see the module docstring)."""
    own = _summary_metric(run_dir, primary)
    if own is None:
        raise UserError(f"{run_dir}/summary.json: no best valid_{primary}; cannot choose a SPARSE_CATEGORY")
    fx = loaded.model.fx_model_checkpoint
    record = _read_yaml(Path(fx).parent / "compression.yaml") if fx else {}
    if not record:
        return Baseline(primary, own, str(run_dir), None)
    before, after = record.get("params_before"), record.get("params_after")
    percent = None
    if isinstance(before, int) and isinstance(after, int) and before > 0:
        percent = min(99, max(1, round(100 * (1 - after / before))))
    source = Path(str(record.get("source", "")))
    if not (source / "summary.json").is_file():
        # `source` is the path as typed when compressing; by default the compressed folder sits inside it
        beside = Path(fx).resolve().parent.parent
        source = beside if (beside / "summary.json").is_file() else source
    dense = _summary_metric(source, primary) if source.is_dir() else None
    if dense is None:
        log(f"note: the dense run this model was pruned from ({source}) has no summary.json here; "
            "the category compares with this run's own fp32 metric")
        return Baseline(primary, own, str(run_dir), percent)
    return Baseline(primary, dense, str(source), percent)


def int8_metrics(run_dir: Path, int8: Path) -> dict[str, Any]:
    """``{"metrics": ..., "primary": ...}`` of the int8 artifact on the run's validation split: the
    cached result of ``nptrain evaluate --artifact`` when the file is unchanged, else measured now."""
    # lazy: layer (README map: zoo/ may not import deploy)
    from nptrain.deploy.metric_cache import cached_metrics

    entry = cached_metrics(run_dir, int8)
    if entry is not None and isinstance(entry.get("metrics"), dict) and isinstance(entry.get("primary"), str):
        return entry
    # lazy: torch
    from nptrain.deploy.evaluate_artifact import evaluate_artifact

    try:
        res = evaluate_artifact(run_dir, int8, [])
    except UserError as exc:
        raise UserError(f"{int8}: its validation metric is needed to choose the SPARSE_CATEGORY and could not be "
                        f"measured ({exc}); run `nptrain evaluate {run_dir} --artifact {int8}` where the data is") from None
    return {"metrics": res["metrics"], "primary": res["primary"]}


@attrs.define
class QuantPlan:
    stub: Stub
    folder: Path  # the quantized-* folder
    int8: Path
    baseline: Baseline
    metrics: dict[str, float]  # the int8 artifact's
    primary: str
    category: str


def _name_for(stub_text: str, sparse_name: str, category: str) -> Stub:
    """``stub_text`` with its last part ``auto`` (or ``auto-TARGET``) filled in, or checked against
    what was measured."""
    head, _, last = stub_text.strip().removeprefix("zoo:").rpartition("/")
    bits = last.split("-")
    if bits[0] == AUTO:
        target = f"-{bits[1]}" if len(bits) == 2 else ""
        return parse_stub(f"{head}/{sparse_name}-{category}{target}")
    stub = parse_stub(stub_text)
    wanted = f"{sparse_name}-{category}"
    name_ok = stub.sparse_name == sparse_name or (stub.sparse_name == "pruned_quant" and sparse_name.startswith("pruned"))
    if not name_ok or stub.sparse_category != category:
        raise UserError(f"stub {stub_text!r}: this entry measures as {wanted} (SPARSE_NAME-SPARSE_CATEGORY), not "
                        f"{stub.sparse_name}-{stub.sparse_category}; use {head}/{wanted} or end the stub with /{AUTO}")
    return stub


def plan_quant(run_dir: Path, quantized: Optional[Path], stub_text: str, loaded: Any,
               log: Callable[[str], None]) -> QuantPlan:
    folder = find_quantized(run_dir, quantized)
    int8 = folder / INT8_FILE
    measured = int8_metrics(run_dir, int8)
    primary = measured["primary"]
    metrics = {k: float(v) for k, v in measured["metrics"].items() if isinstance(v, (int, float))}
    if primary not in metrics:
        raise UserError(f"{int8}: no {primary} among its measured metrics ({', '.join(metrics)})")
    baseline = baseline_of(run_dir, loaded, primary, log)
    category = sparse_category(metrics[primary], baseline.value)
    pruned = baseline.pruned_percent
    sparse_name = "quant" if pruned is None else f"pruned{pruned}_quant"
    stub = _name_for(stub_text, sparse_name, category)
    log(f"{int8.relative_to(run_dir)}: {primary} {metrics[primary]:.4f} against baseline {baseline.value:.4f} "
        f"({baseline.source}) -> {sparse_name}-{category}")
    return QuantPlan(stub, folder, int8, baseline, metrics, primary, category)


def artifact_rows(plan: QuantPlan, model: Any, sample: Any, fp32_value: Optional[float], weights: Path,
                  repeats: int, threads: int = 1) -> list[dict[str, Any]]:
    """One card row per artifact of the entry (PyTorch fp32 weights, int8 ONNX): file, format, size,
    metric value and batch-1 latency, timed interleaved on this machine."""
    # lazy: numpy
    import numpy as np
    import torch

    from nptrain.deploy.format_bench import interleaved_latency
    from nptrain.deploy.runtime import open_artifact

    x = np.ascontiguousarray(sample[:1].numpy(), dtype=np.float32)
    runner = open_artifact(plan.int8, threads)
    xt = torch.from_numpy(x)

    def eager() -> Any:
        with torch.inference_mode():
            return model(xt)

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        (t_eager, t_int8) = interleaved_latency([eager, lambda: runner(x)], repeats)
    finally:
        torch.set_num_threads(old)
    return [
        {"file": "pytorch/model.safetensors", "format": "PyTorch fp32", "size_bytes": weights.stat().st_size,
         "metric": plan.primary, "value": fp32_value, "latency_ms": round(t_eager["median_ms"], 3),
         "latency_p90_ms": round(t_eager["p90_ms"], 3)},
        {"file": "model.onnx", "format": "onnxruntime int8 (QDQ)", "size_bytes": plan.int8.stat().st_size,
         "metric": plan.primary, "value": plan.metrics[plan.primary], "latency_ms": round(t_int8["median_ms"], 3),
         "latency_p90_ms": round(t_int8["p90_ms"], 3)},
    ]


def quantization_field(plan: QuantPlan, threads: int) -> dict[str, Any]:
    """The card's ``quantization`` mapping: how the category was chosen and how the int8 file was made."""
    # lazy: layer (README map: zoo/ may not import deploy)
    from nptrain.deploy.cpu import describe_cpu

    record = _read_yaml(plan.folder / QUANT_RECORD)
    onnx = record.get("onnx") if isinstance(record.get("onnx"), dict) else {}
    calib = record.get("calibration") if isinstance(record.get("calibration"), dict) else {}
    value = plan.metrics[plan.primary]
    return {"metric": plan.primary, "value": value, "baseline_value": plan.baseline.value,
            "baseline_run": plan.baseline.source,
            "kept_percent": round(100 * value / plan.baseline.value, 2) if plan.baseline.value > 0 else None,
            "category": plan.category, "method": onnx.get("method"),
            "per_channel": onnx.get("per_channel"), "reduce_range": onnx.get("reduce_range"),
            "calibration_images": calib.get("used"),
            "latency_threads": threads, "latency_cpu": describe_cpu()}
