"""Run a deployable artifact (ONNX in onnxruntime, OpenVINO IR) on numpy batches, whatever its
batch axis: a file exported with a fixed batch of 1 is fed one image at a time."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np

from nptrain.errors import UserError

MISSING_OPENVINO = "needs the openvino package: pip install openvino (and nncf for OpenVINO int8)"


def import_openvino(what: str):
    """``openvino``, or a one-line UserError naming the package to install."""
    try:
        import openvino
    except ImportError:
        raise UserError(f"{what} {MISSING_OPENVINO}") from None
    return openvino


class ArtifactRunner:
    """``runner(batch) -> first output`` for one artifact file, plus its declared shapes
    (``None`` for a dynamic axis)."""

    def __init__(self, path: Path, runtime: str, input_shape: list[Optional[int]], output_shape: list[Optional[int]],
                 call: Callable[[np.ndarray], np.ndarray]) -> None:
        self.path, self.runtime = path, runtime
        self.input_shape, self.output_shape = input_shape, output_shape
        self._call = call

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        fixed = self.input_shape[0] if self.input_shape else None
        if fixed is not None and fixed != batch.shape[0]:
            if fixed != 1:
                raise UserError(f"{self.path}: fixed batch size {fixed}; use batch 1 or export with --dynamic-batch")
            return np.concatenate([self._call(batch[i:i + 1]) for i in range(batch.shape[0])])
        return self._call(batch)


def _dim(d) -> Optional[int]:
    return d if isinstance(d, int) and d > 0 else None


def open_onnx(path: Path, threads: Optional[int] = None) -> ArtifactRunner:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    try:
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - not a model onnxruntime can load
        raise UserError(f"{path}: onnxruntime cannot load it: {str(exc).splitlines()[0][:200]}") from None
    inp, out = sess.get_inputs()[0], sess.get_outputs()[0]
    name = inp.name
    return ArtifactRunner(path, "onnxruntime", [_dim(d) for d in inp.shape], [_dim(d) for d in out.shape],
                          lambda x: sess.run([out.name], {name: x})[0])


def open_openvino(path: Path, threads: Optional[int] = None) -> ArtifactRunner:
    ov = import_openvino(f"{path}: running OpenVINO IR")
    core = ov.Core()
    config = {"INFERENCE_NUM_THREADS": int(threads)} if threads else {}
    if not path.with_suffix(".bin").is_file():
        raise UserError(f"{path}: its weights {path.with_suffix('.bin').name} are missing beside it")
    try:
        compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"{path}: OpenVINO cannot load it: {str(exc).splitlines()[0][:200]}") from None

    def shape(port) -> list[Optional[int]]:
        return [d.get_length() if d.is_static else None for d in port.get_partial_shape()]

    request = compiled.create_infer_request()
    port = compiled.output(0)
    return ArtifactRunner(path, "openvino", shape(compiled.input(0)), shape(port),
                          lambda x: np.asarray(request.infer({0: x})[port]))


def open_artifact(path: str | Path, threads: Optional[int] = None) -> ArtifactRunner:
    """The runner for ``path`` by suffix: ``.onnx`` (onnxruntime) or ``.xml`` (OpenVINO IR)."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"--artifact {p}: file not found")
    if p.suffix == ".onnx":
        return open_onnx(p, threads)
    if p.suffix == ".xml":
        return open_openvino(p, threads)
    if p.suffix == ".pt":
        raise UserError(f"--artifact {p}: an fx GraphModule is pickled code; evaluate the run it belongs to "
                        "(nptrain evaluate RUN_DIR) instead")
    raise UserError(f"--artifact {p}: unknown artifact type {p.suffix!r} (expected .onnx or OpenVINO .xml)")
