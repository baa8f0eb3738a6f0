"""``nptrain quantize`` picks reduce_range (7-bit weights) from the CPU's int8 features unless told, and
suggests dropping ``--no-reduce-range`` only where it hurts: noisy onnxruntime int8 on a CPU without
VNNI/AMX (ResNet-18 on digits here: 19.4 dB and -1.7 top-1 points; with reduce_range 38.0 dB)."""
from __future__ import annotations

import pytest

from nptrain.deploy.quantize import QuantizeOptions, reduce_range_hint, resolve_reduce_range


def _cpu(vnni: bool = False, amx: bool = False) -> dict:
    return {"model": "x", "int8_features": ["AVX2"], "vnni": vnni, "amx": amx}


def _record(sqnr: float, vnni: bool = False, amx: bool = False) -> dict:
    return {"agreement": {"images": 16, "model_int8.onnx": {"sqnr_db": sqnr, "argmax_agreement": 1.0}},
            "cpu": _cpu(vnni, amx)}


def test_auto_follows_the_cpu_and_flags_force():
    assert resolve_reduce_range(None, _cpu()) == (True, "auto: no VNNI/AMX on this CPU")
    assert resolve_reduce_range(None, {}) == (True, "auto: no VNNI/AMX on this CPU")  # features unreadable
    assert resolve_reduce_range(None, _cpu(vnni=True)) == (False, "auto: this CPU has VNNI int8 dot products")
    assert resolve_reduce_range(None, _cpu(vnni=True, amx=True)) == (False, "auto: this CPU has VNNI/AMX int8 dot products")
    assert resolve_reduce_range(True, _cpu(vnni=True)) == (True, "forced on with --reduce-range")
    assert resolve_reduce_range(False, _cpu()) == (False, "forced off with --no-reduce-range")


def test_hint_only_when_forced_off_and_noisy_without_vnni():
    forced_off = QuantizeOptions(reduce_range=False)
    hint = reduce_range_hint(_record(19.43), forced_off)
    assert hint is not None and "19.4 dB" in hint and "--no-reduce-range" in hint
    assert reduce_range_hint(_record(19.43), QuantizeOptions()) is None  # auto already turned it on here
    assert reduce_range_hint(_record(38.0), forced_off) is None  # healthy
    assert reduce_range_hint(_record(19.43, vnni=True), forced_off) is None  # VNNI kernels do not saturate
    assert reduce_range_hint(_record(19.43, amx=True), forced_off) is None
    assert reduce_range_hint(_record(19.43), QuantizeOptions(reduce_range=True)) is None  # already on
    assert reduce_range_hint(_record(19.43), QuantizeOptions(fmt="openvino", reduce_range=False)) is None
    assert reduce_range_hint({"agreement": {}, "cpu": {}}, forced_off) is None  # no validation images: no check


@pytest.mark.parametrize("argv, expected", [([], None), (["--reduce-range"], True), (["--no-reduce-range"], False)])
def test_cli_flags(argv, expected):
    import argparse

    from nptrain.cli.cmd_quantize import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert parser.parse_args(["run", *argv]).reduce_range is expected
    with pytest.raises(SystemExit):  # the two flags exclude each other
        parser.parse_args(["run", "--reduce-range", "--no-reduce-range"])
