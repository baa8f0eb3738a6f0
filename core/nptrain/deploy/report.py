"""``report.md`` of a quantized folder: what was done, which ops stayed in float, and how close the
quantized outputs are to fp32 (rendered from the same record as ``quantization.yaml``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any
from nptrain.training_io import atomic_write_bytes


def _ops_line(counts: dict[str, int]) -> str:
    return ", ".join(f"{op} ×{n}" for op, n in counts.items()) or "none"


def render(record: dict[str, Any]) -> str:
    cal = record.get("calibration", {})
    cpu = record.get("cpu", {})
    lines = [f"# Quantization report: {record.get('source')}", "",
             f"- task: {record.get('task')}, {record.get('classes')} classes",
             f"- fp32 source: `{record.get('fp32_onnx')}`" + (" (exported by nptrain quantize)" if record.get("exported_here") else ""),
             f"- calibration: {cal.get('used')} of {cal.get('requested')} requested images from the {cal.get('split')} "
             f"split through the {cal.get('transforms')} transforms, seed {cal.get('seed')}",
             f"- CPU: {cpu.get('model')} (int8-relevant features: {', '.join(cpu.get('int8_features') or []) or 'unknown'})",
             "- versions: " + ", ".join(f"{k} {v}" for k, v in (record.get("versions") or {}).items()), ""]
    onnx = record.get("onnx")
    if onnx:
        lines += ["## onnxruntime int8 (QDQ)", "",
                  f"- artifact: `{onnx['artifact']}`; calibration {onnx['method']}; weights {onnx['weights']} "
                  f"{'per channel' if onnx['per_channel'] else 'per tensor'}; activations {onnx['activations']}"
                  + ("; reduce_range (7-bit weights)" if onnx.get("reduce_range") else "; 8-bit weights")
                  + (f" ({onnx['reduce_range_why']})" if onnx.get("reduce_range_why") else ""),
                  "- pre-processing (onnxruntime quant_pre_process): "
                  + ", ".join(f"{k.replace('_', ' ')} {v if isinstance(v, str) else ('yes' if v else 'no')}"
                              for k, v in onnx["preprocess"].items()),
                  f"- int8 op types: {_ops_line(onnx['op_types_int8'])}",
                  f"- op types kept in float: {_ops_line(onnx['op_types_kept_in_float'])}"
                  + (f" (asked with --keep-float {','.join(onnx['kept_float_requested'])})" if onnx["kept_float_requested"] else ""),
                  ""]
    ov = record.get("openvino")
    if ov:
        lines += ["## OpenVINO", ""] + [f"- {k}: `{v}`" for k, v in ov.get("artifacts", {}).items()]
        if ov.get("note"):
            lines.append(f"- note: {ov['note']}")
        lines.append("")
    agree = record.get("agreement") or {}
    rows = [(k, v) for k, v in agree.items() if isinstance(v, dict)]
    if rows:
        lines += [f"## Agreement with fp32 on {agree.get('images')} validation images", "",
                  "| artifact | SQNR (dB) | argmax agreement |", "|---|---:|---:|"]
        lines += [f"| `{k}` | {v['sqnr_db']} | {v.get('argmax_agreement', '-')} |" for k, v in rows]
        lines += ["", "Low SQNR (below ~20 dB) or a metric drop in `nptrain evaluate RUN_DIR --artifact …`: "
                  "re-run with `--method entropy` or `--method percentile`, or keep the sensitive op types in "
                  "float with `--keep-float` (e.g. `Softmax,LayerNormalization` for attention models)."]
    return "\n".join(lines) + "\n"


def write_report(out: Path, record: dict[str, Any]) -> None:
    atomic_write_bytes(out / "report.md", render(record).encode())
