"""Post-training static int8 quantization of an fp32 ONNX file with onnxruntime's tools (QDQ)."""
from __future__ import annotations

import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

from nptrain.deploy.calibration import CalibrationSet
from nptrain.errors import UserError
from nptrain.quiet_library import quiet_library

METHODS = ("minmax", "entropy", "percentile")
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


def _reader(calib: CalibrationSet, input_name: str):
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = calib.arrays()

        def get_next(self):
            arr = next(self._it, None)
            return None if arr is None else {input_name: arr}

        def rewind(self) -> None:
            self._it = calib.arrays()

    return Reader()


# onnxruntime's quantizer logs (on the root logger) and warns per node; the report says what matters
ORT_LOGGER = ""


def preprocess(src: Path, dst: Path) -> dict[str, Any]:
    """onnxruntime's recommended pre-processing (symbolic shape inference, graph optimisation,
    ONNX shape inference). A model the symbolic pass cannot follow is retried without it and the
    fallback is recorded, because quantizing an unprocessed graph still works, only less well."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        with quiet_library(ORT_LOGGER):
            quant_pre_process(str(src), str(dst))
        return {"symbolic_shape_inference": True, "optimization": True, "onnx_shape_inference": True}
    except Exception as first:  # noqa: BLE001 - fall back, record why
        try:
            with quiet_library(ORT_LOGGER):
                quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)
            return {"symbolic_shape_inference": False, "optimization": True, "onnx_shape_inference": True,
                    "note": f"symbolic shape inference failed ({type(first).__name__}); skipped"}
        except Exception as exc:  # noqa: BLE001
            raise UserError(f"{src}: onnxruntime pre-processing failed: {type(exc).__name__}: "
                            f"{str(exc).splitlines()[0][:200] if str(exc) else ''}") from None


def quantize_onnx(fp32: Path, out_file: Path, calib: CalibrationSet, *, method: str = "minmax",
                  per_channel: bool = True, keep_float: Sequence[str] = (), reduce_range: bool = False) -> dict[str, Any]:
    """Pre-process ``fp32``, calibrate on ``calib`` and write the QDQ int8 model to ``out_file``
    (atomically). Returns what ``quantization.yaml`` records about it."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if method not in METHODS:
        raise UserError(f"--method {method!r}: expected one of {', '.join(METHODS)}")
    calib_method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                    "percentile": CalibrationMethod.Percentile}[method]
    out_file.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_file.parent, prefix=".quantize-") as tmp:
        prep = Path(tmp) / "prep.onnx"
        prep_info = preprocess(fp32, prep)
        graph = onnx.load(str(prep)).graph
        known = Counter(n.op_type for n in graph.node)
        unknown = [op for op in keep_float if op not in known]
        if unknown:
            raise UserError(f"--keep-float: the model has no {', '.join(unknown)} nodes "
                            f"(its op types: {', '.join(sorted(known))})")
        exclude = [n.name for n in graph.node if n.op_type in set(keep_float)]
        input_name = graph.input[0].name
        partial = Path(tmp) / "int8.onnx"
        try:
            with quiet_library(ORT_LOGGER):
                quantize_static(str(prep), str(partial), _reader(calib, input_name), quant_format=QuantFormat.QDQ,
                                per_channel=per_channel, reduce_range=reduce_range,
                                activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                                nodes_to_exclude=exclude or None, calibrate_method=calib_method,
                                calibration_providers=["CPUExecutionProvider"])
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - an op onnxruntime cannot quantize is the user's to know
            raise UserError(f"{fp32}: onnxruntime quantization ({method}) failed: {type(exc).__name__}: "
                            f"{str(exc).splitlines()[0][:200] if str(exc) else ''}") from None
        os.replace(partial, out_file)
    ops = op_precision(out_file)
    return {"preprocess": prep_info, "ops": ops, "kept_float_requested": list(keep_float),
            "float_nodes_excluded": len(exclude)}


def op_precision(path: Path) -> dict[str, dict[str, int]]:
    """Count the compute nodes of a QDQ model by op type: ``int8`` when the node sits between
    DequantizeLinear inputs and a QuantizeLinear output (the pattern onnxruntime fuses into an int8
    kernel), else ``float`` (it runs in fp32 between a DequantizeLinear and the next QuantizeLinear)."""
    import onnx

    graph = onnx.load(str(path)).graph
    dq_outputs = {o for n in graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    q_inputs = {n.input[0] for n in graph.node if n.op_type == "QuantizeLinear"}
    int8: Counter[str] = Counter()
    flt: Counter[str] = Counter()
    for node in graph.node:
        if node.op_type in QDQ_OPS or node.op_type == "Constant":
            continue
        wrapped = any(i in dq_outputs for i in node.input) and any(o in q_inputs for o in node.output)
        (int8 if wrapped else flt)[node.op_type] += 1
    return {"int8": dict(sorted(int8.items())), "float": dict(sorted(flt.items()))}
