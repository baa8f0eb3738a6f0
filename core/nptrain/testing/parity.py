"""Parity-fixture helpers for converter tests.

A parity fixture folder holds ``keys.tsv`` (original state-dict layout: ``NAME<TAB>DTYPE<TAB>SHAPE``
per line), ``source.json`` (``gain``, ``tolerance``), ``input.safetensors`` (``x``),
``expected.safetensors`` (one tensor per output name) and optionally ``int_buffers.safetensors``
(integer buffers that are not zero). :func:`nptrain.testing.write_fixture` writes one from a reference
module. The original-layout weights are regenerated from a deterministic
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


KEYS_FORMAT = ("one line per original state-dict entry, in state_dict() order: NAME<TAB>DTYPE<TAB>SHAPE, "
               "DTYPE a torch dtype name (float32, int64, …), SHAPE comma-separated sizes, empty for a scalar "
               "(e.g. conv1.weight<TAB>float32<TAB>64,3,7,7)")
SOURCE_FORMAT = ('a JSON object: "gain" (float, scale of the weight formula for conv/linear weights; default 1.0), '
                 '"tolerance": {"rtol": float, "atol_scale": float} (for assert_parity), optionally '
                 '"tolerance_overrides": {output name: {"rtol", "atol_scale"}}')
WRITE_HINT = "nptrain.testing.write_fixture(reference_module, folder, input=...) writes a complete fixture"


class FixtureError(ValueError):
    """A parity fixture file is missing or malformed; the message says what the file must contain."""


def _fixture_file(folder: Path, name: str, what: str) -> Path:
    path = Path(folder) / name
    if not path.is_file():
        raise FixtureError(f"{path}: missing; {name} holds {what}. {WRITE_HINT}")
    return path


def read_keys(folder: Path) -> list[tuple[str, torch.dtype, tuple[int, ...]]]:
    """``keys.tsv`` rows as ``(name, dtype, shape)`` in the original ``state_dict()`` order."""
    path = _fixture_file(folder, "keys.tsv", KEYS_FORMAT)
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        dtype = getattr(torch, fields[1], None) if len(fields) == 3 else None
        try:
            if not isinstance(dtype, torch.dtype):
                raise ValueError
            shape = tuple(int(s) for s in fields[2].split(",") if s)
        except ValueError:
            raise FixtureError(f"{path}:{number}: {line!r} is not {KEYS_FORMAT}") from None
        rows.append((fields[0], dtype, shape))
    return rows


def formula_tensor(name: str, dtype: torch.dtype, shape: tuple[int, ...], *, gain: float, salt: int = 0) -> torch.Tensor:
    """The fixture weight formula (float64 sinusoid, shaped by the entry's role), cast to ``dtype``."""
    if not dtype.is_floating_point:
        return torch.zeros(shape, dtype=dtype)
    numel = math.prod(shape)
    phase = ((zlib.crc32(name.encode("utf-8")) + 7919 * salt) % 10007) / 1000.0
    # sin(0.7 i + 1e-3 i i + phase), each operation in place and in the formula's order: bit-identical to the
    # written-out expression, twice as fast on the 100M-parameter detectors
    i = torch.arange(numel, dtype=torch.float64)
    quad = i.mul(1e-3).mul_(i)
    base = i.mul_(0.7).add_(quad).add_(phase).sin_().reshape(shape)
    del quad
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "running_var":
        value = base.add_(1.0).mul_(0.25).add_(1.0)
    elif leaf == "running_mean":
        value = base.mul_(0.1)
    elif len(shape) <= 1 and leaf in ("weight", "gamma"):
        value = base.mul_(0.1).add_(1.0)
    elif len(shape) <= 1:
        value = base.mul_(0.02)
    else:
        value = base.mul_(gain).div_(math.sqrt(numel // shape[0]))
    return value.to(dtype)


def source_info(folder: Path) -> dict:
    """``source.json`` of a fixture folder (a missing or malformed file says what it must contain)."""
    path = _fixture_file(folder, "source.json", SOURCE_FORMAT)
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise FixtureError(f"{path}:{exc.lineno}: not JSON ({exc.msg}); it must be {SOURCE_FORMAT}") from None
    if not isinstance(info, dict):
        raise FixtureError(f"{path}: must be {SOURCE_FORMAT}")
    return info


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
    return load_file(str(_fixture_file(folder, "input.safetensors", 'the model input as the tensor "x"')))["x"]


def load_expected(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(_fixture_file(folder, "expected.safetensors",
                                       "the reference outputs, one tensor per output name")))


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
        if "tolerance" not in info:
            raise FixtureError(f"{Path(folder) / 'source.json'}: no \"tolerance\"; it must be {SOURCE_FORMAT}")
        tol = info.get("tolerance_overrides", {}).get(name, info["tolerance"])
        report[name] = violation(got, expected, tol)
        assert report[name] <= 1.0, f"{name}: max violation {report[name]:.3g}x the tolerance"
    return report
