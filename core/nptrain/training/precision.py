"""``training.mixed_precision``: which arithmetic the training step runs in, and why.

* CUDA, ``true``: float16 autocast with a gradient scaler (as before).
* CPU, ``true``: bfloat16 autocast with float32 master weights and optimizer state. Forced even
  where the CPU has no native bf16 (it then runs emulated and slower; tests use this).
* ``auto`` (the default): bfloat16 autocast on a CPU with native bf16 (Intel AMX or AVX512-BF16,
  AMD Zen 4+), float32 elsewhere, CUDA included (set ``true`` there for float16).
* ``false``: float32.

``NPTRAIN_NATIVE_BF16`` overrides the CPU probe (not the setting): ``1`` treats the CPU as one with native
bf16, so that ``auto`` runs bf16 autocast (emulated, slower, on a CPU without it): the numerics of an
AVX512-BF16 / AMX machine, reproduced on any CPU (CI runs the training tests so); ``0`` treats it as one
without, so that ``auto`` stays float32 where an fp32 machine's results are wanted.

bf16 needs no gradient scaler: it has float32's exponent range, so gradients do not underflow.
"""
from __future__ import annotations

import os
from typing import Optional, Union

import attrs
import torch

from nptrain.errors import UserError

# /proc/cpuinfo flags that mean the CPU computes bf16 dot products in hardware (oneDNN uses them)
NATIVE_BF16_FLAGS = (("amx_bf16", "AMX"), ("avx512_bf16", "AVX512-BF16"))
PROBE_OVERRIDE = "NPTRAIN_NATIVE_BF16"


@attrs.frozen
class Precision:
    """What the engine does: autocast to ``dtype`` on ``device_type`` (None: float32), ``scaler``
    (float16 only), and ``describe``, the run header's words."""

    dtype: Optional[torch.dtype]
    device_type: str
    scaler: bool
    describe: str

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device_type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None)


def cpu_flags(path: str = "/proc/cpuinfo") -> Optional[set[str]]:
    """The CPU's feature flags (Linux), or None where they cannot be read."""
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith(("flags", "Features")):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        return None
    return set()


def native_bf16(flags: Optional[set[str]] = None) -> Optional[str]:
    """The name of the CPU's native bf16 unit (``"AMX"``, ``"AVX512-BF16"``), or None without one.

    Both checks must agree: the CPU flags (torch's own ``_is_mkldnn_bf16_supported`` is also true on
    plain AVX512 CPUs, where oneDNN emulates bf16 more slowly than float32) and oneDNN's support.
    Without ``flags`` (the real probe), ``NPTRAIN_NATIVE_BF16=1`` / ``0`` decides instead."""
    if flags is None:
        forced = probe_override()
        if forced is not None:
            return forced or None
    flags = cpu_flags() if flags is None else flags
    if not flags:
        return None
    try:
        if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return None
    except (AttributeError, RuntimeError):
        return None
    for flag, unit in NATIVE_BF16_FLAGS:
        if flag in flags:
            return unit
    return None


def probe_override() -> Optional[str]:
    """``NPTRAIN_NATIVE_BF16`` read: a unit name when set to 1 (bf16 as if native), ``""`` when 0 (as if
    absent), None when unset; any other value is a one-line error naming the variable."""
    value = os.environ.get(PROBE_OVERRIDE, "").strip()
    if not value:
        return None
    if value in ("1", "true", "yes"):
        return f"{PROBE_OVERRIDE}=1"
    if value in ("0", "false", "no"):
        return ""
    raise UserError(f"{PROBE_OVERRIDE}={value!r}: expected 1 (treat this CPU as having native bf16) or 0 (as not)")


def choose_precision(setting: Union[bool, str], device: torch.device, *,
                     native: Optional[str] = None, probe: bool = True) -> Precision:
    """The precision for ``training.mixed_precision: setting`` on ``device``; ``native`` overrides
    the CPU probe (tests), ``probe=False`` skips it."""
    if device.type == "cuda":
        if setting is True:
            return Precision(torch.float16, "cuda", True, "float16 autocast (CUDA)")
        return Precision(None, "cuda", False, "float32" + (" (mixed_precision: true for float16)" if setting == "auto" else ""))
    if device.type != "cpu":
        return Precision(None, device.type, False, f"float32 (mixed precision is not supported on {device.type})")
    if native is None and probe and setting is not False:
        native = native_bf16()
    if setting is True:
        if native:
            return Precision(torch.bfloat16, "cpu", False, f"bf16 autocast ({native})")
        return Precision(torch.bfloat16, "cpu", False,
                         "bf16 autocast, emulated: this CPU has no native bf16, expect it slower than float32")
    if setting == "auto" and native:
        return Precision(torch.bfloat16, "cpu", False, f"bf16 autocast ({native})")
    if setting == "auto":
        return Precision(None, "cpu", False, "float32: this CPU has no native bf16")
    return Precision(None, "cpu", False, "float32")
