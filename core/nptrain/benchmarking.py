"""Measure a model: parameters, FLOPs, peak memory, batch-1 latency (eager, fx, onnxruntime)."""
from __future__ import annotations

import contextlib
import copy
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional
import os
import sys

import torch
from torch import nn
from nptrain.export_tools import export_onnx_checked


def _median_ms(fn: Callable[[], Any], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def count_flops(model: nn.Module, x: torch.Tensor) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return int(counter.get_total_flops())


@contextlib.contextmanager
def _quiet_fd2():
    """The profiler's native layer prints start/stop lines straight to file descriptor 2."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def peak_memory_mib(model: nn.Module, x: torch.Tensor) -> float:
    """Peak CPU memory allocated during one forward (torch's CPU allocator goes through malloc,
    which tracemalloc does not see, so use torch's profiler memory accounting)."""
    from torch.profiler import ProfilerActivity, profile

    with _quiet_fd2(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof, torch.no_grad():
        model(x)
    peak = cur = 0
    for evt in sorted(prof.events(), key=lambda e: e.time_range.start):
        cur += evt.cpu_memory_usage if evt.cpu_memory_usage > 0 else 0
        peak = max(peak, cur)
        cur += evt.cpu_memory_usage if evt.cpu_memory_usage < 0 else 0
    return peak / 2**20


def measure(model: nn.Module, input_shape: tuple[int, ...], *, repeats: int = 20, threads: int = 1) -> dict[str, Any]:
    torch.set_flush_denormal(True)
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model = copy.deepcopy(model).eval()
        x = torch.randn((1,) + tuple(input_shape))
        result: dict[str, Any] = {"params": sum(p.numel() for p in model.parameters()),
                                  "flops": count_flops(model, x), "peak_memory_mib": peak_memory_mib(model, x),
                                  "input_shape": list(input_shape), "latency_ms": {}}
        with torch.inference_mode():
            result["latency_ms"]["eager"] = _median_ms(lambda: model(x), repeats)
        traced: Optional[nn.Module]
        try:
            traced = model if isinstance(model, torch.fx.GraphModule) else torch.fx.symbolic_trace(model)
        except Exception:  # noqa: BLE001 - reported as n/a
            traced = None
        with torch.inference_mode():
            result["latency_ms"]["fx"] = _median_ms(lambda: traced(x), repeats) if traced is not None else None
        result["latency_ms"]["onnxruntime"] = _ort_latency(model, x, repeats, threads)
        return result
    finally:
        torch.set_num_threads(old_threads)


def _ort_latency(model: nn.Module, x: torch.Tensor, repeats: int, threads: int) -> Optional[float]:
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.onnx"
        try:
            export_onnx_checked(model, x, path, opset=17, dynamic_batch=False)
        except Exception:  # noqa: BLE001
            return None
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        feed = {"images": x.numpy()}
        return _median_ms(lambda: sess.run(None, feed), repeats)
