"""Parity-fixture helpers for converter tests.

A parity fixture folder holds ``keys.tsv`` (original state-dict layout), ``source.json`` (gain,
tolerance), ``input.safetensors``, ``expected.safetensors`` and optionally
``int_buffers.safetensors``. The original-layout weights are regenerated from a deterministic
formula so no real checkpoint is needed.
"""
from __future__ import annotations

import json
import math
import zlib
from pathlib import Path
from typing import Mapping

import torch
from safetensors.torch import load_file


def read_keys(folder: Path) -> list[tuple[str, torch.dtype, tuple[int, ...]]]:
    """``keys.tsv`` rows as ``(name, dtype, shape)`` in the original ``state_dict()`` order."""
    rows = []
    for line in (Path(folder) / "keys.tsv").read_text().splitlines():
        if line.strip():
            name, dtype, shape = line.split("\t")
            rows.append((name, getattr(torch, dtype), tuple(int(s) for s in shape.split(",") if s)))
    return rows


def formula_tensor(name: str, dtype: torch.dtype, shape: tuple[int, ...], *, gain: float, salt: int = 0) -> torch.Tensor:
    """The fixture weight formula (float64 sinusoid, shaped by the entry's role), cast to ``dtype``."""
    if not dtype.is_floating_point:
        return torch.zeros(shape, dtype=dtype)
    numel = math.prod(shape)
    phase = ((zlib.crc32(name.encode("utf-8")) + 7919 * salt) % 10007) / 1000.0
    i = torch.arange(numel, dtype=torch.float64)
    base = torch.sin(0.7 * i + 1e-3 * i * i + phase).reshape(shape)
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "running_var":
        value = 1.0 + 0.25 * (base + 1.0)
    elif leaf == "running_mean":
        value = 0.1 * base
    elif len(shape) <= 1 and leaf in ("weight", "gamma"):
        value = 1.0 + 0.1 * base
    elif len(shape) <= 1:
        value = 0.02 * base
    else:
        value = gain * base / math.sqrt(numel // shape[0])
    return value.to(dtype)


def source_info(folder: Path) -> dict:
    return json.loads((Path(folder) / "source.json").read_text())


def make_state_dict(folder: Path, salt: int = 0) -> dict[str, torch.Tensor]:
    """Original-layout state dict of a fixture folder, in ``keys.tsv`` order."""
    folder = Path(folder)
    gain = float(source_info(folder).get("gain", 1.0))
    ints_path = folder / "int_buffers.safetensors"
    ints = load_file(str(ints_path)) if ints_path.exists() else {}
    out = {}
    for name, dtype, shape in read_keys(folder):
        if name in ints:
            out[name] = ints[name].to(dtype).reshape(shape)
        else:
            out[name] = formula_tensor(name, dtype, shape, gain=gain, salt=salt)
    return out


def load_input(folder: Path) -> torch.Tensor:
    return load_file(str(Path(folder) / "input.safetensors"))["x"]


def load_expected(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(Path(folder) / "expected.safetensors"))


def violation(ours: torch.Tensor, expected: torch.Tensor, tol: Mapping[str, float]) -> float:
    """``max |ours - expected| / bound``; at most 1 passes (the fixture README's rule)."""
    bound = tol["atol_scale"] * expected.abs().max() + tol["rtol"] * expected.abs()
    return float(((ours.double() - expected.double()).abs() / bound.double()).max())


def assert_parity(ours: Mapping[str, torch.Tensor], folder: Path) -> dict[str, float]:
    """Compare every expected output of the fixture with ``ours``; returns the violations."""
    info = source_info(folder)
    report = {}
    for name, expected in load_expected(folder).items():
        assert name in ours, f"output {name!r} missing (have {sorted(ours)})"
        got = ours[name].detach().float()
        assert tuple(got.shape) == tuple(expected.shape), f"{name}: shape {tuple(got.shape)} != {tuple(expected.shape)}"
        tol = info.get("tolerance_overrides", {}).get(name, info["tolerance"])
        report[name] = violation(got, expected, tol)
        assert report[name] <= 1.0, f"{name}: max violation {report[name]:.3g}x the tolerance"
    return report
