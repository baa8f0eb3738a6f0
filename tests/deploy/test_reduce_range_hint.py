"""``nptrain quantize`` suggests --reduce-range only where it helps: noisy onnxruntime int8 on a CPU
without VNNI/AMX (ResNet-18 on digits here: 19.4 dB and -1.7 top-1 points; with --reduce-range 38.0 dB)."""
from __future__ import annotations

from nptrain.deploy.quantize import QuantizeOptions, reduce_range_hint


def _record(sqnr: float, vnni: bool = False, amx: bool = False) -> dict:
    return {"agreement": {"images": 16, "model_int8.onnx": {"sqnr_db": sqnr, "argmax_agreement": 1.0}},
            "cpu": {"model": "x", "int8_features": ["AVX2"], "vnni": vnni, "amx": amx}}


def test_hint_on_low_sqnr_without_vnni_only():
    opts = QuantizeOptions()
    hint = reduce_range_hint(_record(19.43), opts)
    assert hint is not None and "19.4 dB" in hint and "--reduce-range" in hint
    assert reduce_range_hint(_record(38.0), opts) is None  # healthy
    assert reduce_range_hint(_record(19.43, vnni=True), opts) is None  # VNNI kernels do not saturate
    assert reduce_range_hint(_record(19.43, amx=True), opts) is None
    assert reduce_range_hint(_record(19.43), QuantizeOptions(reduce_range=True)) is None  # already on
    assert reduce_range_hint(_record(19.43), QuantizeOptions(fmt="openvino")) is None
    assert reduce_range_hint({"agreement": {}, "cpu": {}}, opts) is None  # no validation images: no check
