"""What this CPU offers int8 inference: reported next to every latency figure, because int8
speed-ups depend on it (VNNI/AMX do 8-bit dot products natively; plain AVX2 widens to 16 bits)."""
from __future__ import annotations

import platform
from pathlib import Path

# flag in /proc/cpuinfo -> the name people know it by
INT8_FLAGS = {"avx2": "AVX2", "fma": "FMA", "avx512f": "AVX-512F", "avx512bw": "AVX-512BW",
              "avx512_vnni": "AVX-512 VNNI", "avx_vnni": "AVX-VNNI", "amx_int8": "AMX-INT8", "amx_tile": "AMX"}


def cpu_info() -> dict[str, object]:
    """``{"model": ..., "int8_features": [...], "vnni": bool, "amx": bool}`` (Linux; elsewhere the
    feature list is empty and ``model`` is the platform's processor string)."""
    model, flags = platform.processor() or platform.machine(), set()
    info = Path("/proc/cpuinfo")
    if info.is_file():
        for line in info.read_text(errors="replace")[:1_000_000].splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name" and value.strip():
                model = value.strip()
            elif key == "flags":
                flags = set(value.split())
                break
    features = [name for flag, name in INT8_FLAGS.items() if flag in flags]
    return {"model": model, "int8_features": features,
            "vnni": bool(flags & {"avx512_vnni", "avx_vnni"}), "amx": "amx_int8" in flags}


def describe_cpu() -> str:
    """One line, e.g. ``AMD EPYC (AVX2, FMA; no VNNI, no AMX)``."""
    info = cpu_info()
    feats = ", ".join(info["int8_features"]) or "no SIMD flags read"  # type: ignore[arg-type]
    extra = [] if info["vnni"] else ["no VNNI"]
    extra += [] if info["amx"] else ["no AMX"]
    return f"{info['model']} ({feats}{'; ' + ', '.join(extra) if extra else ''})"
