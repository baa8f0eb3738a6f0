"""Per-format rows for ``nptrain benchmark RUN_DIR``: eager fp32 and every deployable artifact the
run holds (onnxruntime fp32/int8, OpenVINO fp32/fp16/int8), with size on disk, batch-1 latency
(median, p90) at a stated thread count and the artifact's cached validation metric.

Latencies are measured interleaved (one call of each format per round) so that load from other
processes hits every format alike and the ratios stay meaningful on a shared machine."""
from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
from nptrain.run_files import read_run_json
from nptrain.deploy.metric_cache import cached_metrics
from nptrain.deploy.runtime import open_artifact

FORMAT_FILES = (  # (label, glob under the run directory)
    ("onnxruntime fp32", "weights/model.onnx"),
    ("onnxruntime int8", "quantized-*/model_int8.onnx"),
    ("OpenVINO fp32", "quantized-*/openvino/model_fp32.xml"),
    ("OpenVINO fp16", "quantized-*/openvino/model_fp16.xml"),
    ("OpenVINO int8", "quantized-*/openvino/model_int8.xml"),
)


def find_artifacts(run_dir: Path) -> list[tuple[str, Path]]:
    """``(label, path)`` for each artifact present; quantized folders are named in the label."""
    rows = []
    for label, pattern in FORMAT_FILES:
        for path in sorted(run_dir.glob(pattern)):
            folder = next((p.name for p in path.relative_to(run_dir).parents if p.name.startswith("quantized-")), None)
            rows.append((f"{label} ({folder[len('quantized-'):]})" if folder else label, path))
    return rows


def size_on_disk(path: Path) -> int:
    size = path.stat().st_size
    if path.suffix == ".xml" and path.with_suffix(".bin").is_file():
        size += path.with_suffix(".bin").stat().st_size
    return size


def interleaved_latency(calls: list[Callable[[], Any]], repeats: int, warmup: int = 2) -> list[dict[str, float]]:
    """Median and p90 milliseconds of each call, measured round-robin."""
    for call in calls:
        for _ in range(warmup):
            call()
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(repeats):
        for i, call in enumerate(calls):
            t0 = time.perf_counter()
            call()
            times[i].append((time.perf_counter() - t0) * 1000)
    out = []
    for t in times:
        t.sort()
        out.append({"median_ms": statistics.median(t), "p90_ms": t[min(len(t) - 1, int(round(0.9 * (len(t) - 1))))]})
    return out


def _eager_metric(summary: dict[str, Any]) -> Optional[tuple[str, float]]:
    best = summary.get("best") or {}
    if isinstance(best.get("value"), (int, float)) and isinstance(best.get("key"), str):
        return best["key"].removeprefix("valid_"), float(best["value"])
    return None


def format_rows(model: Any, run_dir: Path, input_shape: tuple[int, ...], *, repeats: int, threads: int,
                evaluate_missing: bool, log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """One dict per format: label, path, size_bytes, median_ms, p90_ms, metric name/value (None: not
    evaluated yet, see ``nptrain evaluate RUN_DIR --artifact``)."""
    import torch

    summary = read_run_json(run_dir, "summary.json") or {}
    x = np.random.default_rng(0).standard_normal((1, *input_shape)).astype(np.float32)
    xt = torch.from_numpy(x)
    weights = next((run_dir / "weights" / f for f in ("best.safetensors", "last.safetensors")
                    if (run_dir / "weights" / f).is_file()), None)
    eager_metric = _eager_metric(summary)
    rows: list[dict[str, Any]] = [{"label": "eager fp32 (PyTorch)", "path": str(weights) if weights else None,
                                   "size_bytes": weights.stat().st_size if weights else None,
                                   "metric": eager_metric[0] if eager_metric else None,
                                   "value": eager_metric[1] if eager_metric else None}]
    model = model.eval()
    calls: list[Callable[[], Any]] = []

    def eager() -> Any:
        with torch.inference_mode():
            return model(xt)

    calls.append(eager)
    for label, path in find_artifacts(run_dir):
        try:
            runner = open_artifact(path, threads)
        except Exception as exc:  # noqa: BLE001 - one broken artifact must not hide the others
            log(f"note: {path}: skipped ({exc})")
            continue
        entry = cached_metrics(run_dir, path)
        if entry is None and evaluate_missing:
            # lazy: torch
            from nptrain.deploy.evaluate_artifact import evaluate_artifact

            res = evaluate_artifact(run_dir, path, [], threads=threads)
            entry = {"metrics": res["metrics"], "primary": res["primary"]}
        primary = entry.get("primary") if entry else None
        rows.append({"label": label, "path": str(path), "size_bytes": size_on_disk(path), "metric": primary,
                     "value": entry["metrics"].get(primary) if entry and primary else None})
        calls.append(lambda r=runner: r(x))
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        timings = interleaved_latency(calls, repeats)
    finally:
        torch.set_num_threads(old)
    for row, t in zip(rows, timings):
        row.update(t)
    return rows


def render_rows(rows: list[dict[str, Any]], threads: int, cpu_line: str) -> str:
    header = ("format", "size (MiB)", "median ms", "p90 ms", "metric")
    table = [header]
    base = rows[0]["median_ms"] if rows else None
    for r in rows:
        metric = f"{r['metric']} {r['value']:.4f}" if r.get("value") is not None else "- (nptrain evaluate --artifact)"
        speed = f" ({base / r['median_ms']:.2f}x)" if base and r is not rows[0] else ""
        size = f"{r['size_bytes'] / 2**20:.2f}" if r.get("size_bytes") else "-"
        table.append((r["label"], size, f"{r['median_ms']:.2f}{speed}", f"{r['p90_ms']:.2f}", metric))
    width = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = [f"per format, batch 1, {threads} thread(s), interleaved; CPU: {cpu_line}"]
    for row in table:
        lines.append("  " + "  ".join(c.ljust(w) if i in (0, 4) else c.rjust(w) for i, (c, w) in enumerate(zip(row, width))))
    return "\n".join(lines)
