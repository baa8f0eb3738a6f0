"""OpenVINO IR from the run's fp32 ONNX: fp32 and fp16-compressed weights, and int8 through NNCF's
post-training quantization on the same calibration images (when nncf is installed)."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from nptrain.deploy.calibration import CalibrationSet
from nptrain.deploy.runtime import import_openvino
from nptrain.errors import UserError
from nptrain.quiet_library import quiet_library
from nptrain.deploy.quantized_files import OPENVINO_FILES


def export_openvino(fp32: Path, out: Path, calib: CalibrationSet, log: Callable[[str], None]) -> dict[str, Any]:
    """Write ``model_fp32``, ``model_fp16`` and (with nncf) ``model_int8`` ``.xml``/``.bin`` into ``out``.

    The files are written into a temporary folder and moved in at the end, so a failure leaves any
    earlier IR in place."""
    ov = import_openvino("--format openvino")

    out.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {"artifacts": {}, "openvino": ov.__version__ if hasattr(ov, "__version__") else "?"}
    with tempfile.TemporaryDirectory(dir=out, prefix=".openvino-") as tmp:
        work = Path(tmp)
        try:
            model = ov.convert_model(str(fp32))
        except Exception as exc:  # noqa: BLE001 - an op OpenVINO's ONNX frontend lacks
            raise UserError(f"{fp32}: OpenVINO cannot convert it: {str(exc).splitlines()[0][:200]}") from None
        ov.save_model(model, str(work / OPENVINO_FILES["fp32"]), compress_to_fp16=False)
        ov.save_model(model, str(work / OPENVINO_FILES["fp16"]), compress_to_fp16=True)
        done = ["fp32", "fp16"]
        try:
            import nncf
        except ImportError:
            nncf = None
            info["note"] = "nncf is not installed (pip install nncf): no OpenVINO int8"
            log("note: nncf is not installed: OpenVINO int8 skipped (pip install nncf)")
        if nncf is not None:
            data = list(calib.arrays())
            with quiet_library("nncf"):  # progress bars and a log line per statistic
                quantized = nncf.quantize(model, nncf.Dataset(data), subset_size=len(data))
            ov.save_model(quantized, str(work / OPENVINO_FILES["int8"]), compress_to_fp16=False)
            done.append("int8")
            info["int8"] = {"tool": f"nncf {nncf.__version__}", "preset": "performance (symmetric int8)",
                            "calibration_images": len(data),
                            "note": "NNCF's own min-max statistics with fast bias correction; --method applies to onnxruntime only"}
        for kind in done:
            for suffix in (".xml", ".bin"):
                name = Path(OPENVINO_FILES[kind]).with_suffix(suffix).name
                shutil.move(str(work / name), str(out / name))
            info["artifacts"][kind] = f"{out.name}/{OPENVINO_FILES[kind]}"
    log(f"OpenVINO IR: {', '.join(info['artifacts'].values())} in {out.parent}")
    return info
