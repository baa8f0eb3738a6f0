"""``nptrain quantize``: find (or export) the run's fp32 ONNX, calibrate on its training images,
write int8 ONNX (onnxruntime) and/or OpenVINO IR into ``RUN_DIR/quantized-<method>/`` with
``quantization.yaml`` and ``report.md``."""
from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional, Sequence
import importlib.metadata as md

import attrs

from nptrain.errors import UserError
from nptrain.run_files import read_run_json
from nptrain.deploy.cpu import cpu_info
from nptrain.training_io import atomic_write_bytes
from nptrain.deploy.report import write_report
from nptrain.deploy.quantized_files import ONNX_INT8, OPENVINO_DIR, OPENVINO_FILES

DEFAULT_CALIB = 128


@attrs.define
class QuantizeOptions:
    calib: int = DEFAULT_CALIB
    method: str = "minmax"
    per_channel: bool = True
    fmt: str = "onnx"
    keep_float: Sequence[str] = ()
    reduce_range: Optional[bool] = None  # None: auto, from the CPU's int8 features (resolve_reduce_range)
    seed: Optional[int] = None
    output: Optional[Path] = None


@attrs.define
class Source:
    """The model to quantize: its config, classes, fp32 ONNX and where outputs go."""

    loaded: Any
    classes: list[str]
    fp32: Path
    out: Path
    run_dir: Optional[Path]
    exported: bool


def _versions() -> dict[str, str]:
    out = {}
    for dist in ("nptrain", "torch", "onnx", "onnxruntime", "openvino", "nncf"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return out


def resolve_source(target: str, opts: QuantizeOptions, log: Callable[[str], None]) -> Source:
    """A run directory uses ``weights/model.onnx`` (exported into the output folder first when the
    run has none); a config builds its model (``model.checkpoint``) and exports it."""
    # lazy: ruamel
    from nptrain.config.loader import load_config
    path = Path(target)
    run_dir = path if path.is_dir() else None
    if run_dir is not None:
        if not (run_dir / "config.yaml").is_file():
            raise UserError(f"{run_dir}: not a run directory (no config.yaml)")
        loaded = load_config([str(run_dir / "config.yaml")], ["model.checkpoint=null"], check_files=False)
        classes = read_run_json(run_dir, "classes.json") or (read_run_json(run_dir, "summary.json") or {}).get("classes") or []
        base = run_dir
    else:
        loaded = load_config([str(path)], [])
        classes = []
        base = Path("runs") / "quantized" / (loaded.model.name or path.stem)
    out = opts.output or base / f"quantized-{opts.method}"
    out.mkdir(parents=True, exist_ok=True)
    existing = run_dir / "weights" / "model.onnx" if run_dir is not None else None
    if existing is not None and existing.is_file():
        return Source(loaded, [str(c) for c in classes], existing, out, run_dir, False)
    log(f"{target}: no weights/model.onnx; exporting the fp32 model first" if run_dir else
        f"{target}: exporting the configured model to ONNX first")
    fp32 = export_fp32(target, out / "model.onnx", loaded)
    if not classes:
        # lazy: torch
        from nptrain.training.setup import build_data

        classes = build_data(loaded, need_train=False).classes
    return Source(loaded, [str(c) for c in classes], fp32, out, run_dir, True)


def export_fp32(target: str, dest: Path, loaded: Any) -> Path:
    """The PyTorch model of ``target`` exported as fp32 ONNX (dynamic batch), checked with onnxruntime."""
    # lazy: torch
    from nptrain.compression.source import example_input, load_model_source
    from nptrain.export_tools import onnx_output_name
    from nptrain.training.export import export_onnx

    src = load_model_source(target)
    sample = example_input(src, 2)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".export-") as tmp:
        res = export_onnx(src.model, sample, Path(tmp) / dest.name, loaded.run.logging.onnx_opset,
                          output_name=onnx_output_name(loaded.model.task))
        if not res["ok"]:
            raise UserError(f"{target}: ONNX export failed: {res['error']}")
        if res.get("check_error"):
            raise UserError(f"{target}: exported ONNX does not run in onnxruntime: {res['check_error']}")
        shutil.move(str(Path(tmp) / dest.name), dest)
    return dest


def _yaml_text(data: dict[str, Any]) -> str:
    # lazy: ruamel
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.default_flow_style = False
    buf = io.StringIO()
    yaml.dump(data, buf)
    return buf.getvalue()


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file() or path.stat().st_size > 1 << 20:
        return {}
    # lazy: ruamel
    from ruamel.yaml import YAML

    data = YAML(typ="safe", pure=True).load(path.read_text())
    return data if isinstance(data, dict) else {}


def quantize(target: str, opts: QuantizeOptions, log: Callable[[str], None] = print) -> Path:
    """Run the whole command; returns the output folder."""
    # lazy: numpy
    from nptrain.deploy.calibration import calibration_set
    if opts.calib < 1:
        raise UserError(f"--calib {opts.calib}: need at least one calibration image")
    if opts.fmt == "openvino":  # fail before any work when the runtime is missing
        # lazy: numpy
        from nptrain.deploy.runtime import import_openvino

        import_openvino("--format openvino")
    src = resolve_source(target, opts, log)
    seed = opts.seed if opts.seed is not None else src.loaded.run.environment.seed
    calib = calibration_set(src.loaded, src.classes, opts.calib, seed)
    if calib.short:
        log(f"warning: the training split has {calib.available} images, fewer than --calib {opts.calib}; "
            f"calibrating on all {calib.available}")
    record = _read_yaml(src.out / "quantization.yaml")
    record.update({
        "source": str(target), "fp32_onnx": str(src.fp32), "exported_here": src.exported,
        "task": src.loaded.model.task, "classes": len(src.classes),
        "calibration": {"requested": opts.calib, "used": len(calib), "split": "train",
                        "transforms": "inference", "seed": seed},
        "versions": _versions(), "cpu": cpu_info(),
    })
    if opts.fmt == "onnx":
        # lazy: numpy
        from nptrain.deploy.ort_quant import quantize_onnx

        reduce_range, why = resolve_reduce_range(opts.reduce_range, record["cpu"])
        log(f"reduce_range {'on' if reduce_range else 'off'} ({why})")
        info = quantize_onnx(src.fp32, src.out / ONNX_INT8, calib, method=opts.method, per_channel=opts.per_channel,
                             keep_float=opts.keep_float, reduce_range=reduce_range)
        record["onnx"] = {"artifact": ONNX_INT8, "method": opts.method, "quant_format": "QDQ",
                          "activations": "int8 (asymmetric)", "weights": "int8 (symmetric)",
                          "per_channel": opts.per_channel, "reduce_range": reduce_range, "reduce_range_why": why,
                          "preprocess": info["preprocess"], "kept_float_requested": info["kept_float_requested"],
                          "op_types_kept_in_float": info["ops"]["float"], "op_types_int8": info["ops"]["int8"]}
        log(f"int8 ONNX: {src.out / ONNX_INT8} ({_mib(src.out / ONNX_INT8):.2f} MiB, fp32 {_mib(src.fp32):.2f} MiB); "
            f"int8 ops {_ops(info['ops']['int8'])}; kept in float {_ops(info['ops']['float']) or 'none'}")
    else:
        # lazy: numpy
        from nptrain.deploy.openvino_quant import export_openvino

        info = export_openvino(src.fp32, src.out / OPENVINO_DIR, calib, log)
        record["openvino"] = info
    record["agreement"] = output_agreement(src, log=log)
    hint = reduce_range_hint(record, opts)
    if hint:
        log(hint)
    atomic_write_bytes(src.out / "quantization.yaml", _yaml_text(record).encode())

    write_report(src.out, record)
    log(f"wrote {src.out}/quantization.yaml, report.md")
    if src.run_dir is not None:
        log(f"evaluate: nptrain evaluate {src.run_dir} --artifact {_first_artifact(src.out, opts.fmt)}")
    return src.out


def resolve_reduce_range(requested: Optional[bool], cpu: dict[str, Any]) -> tuple[bool, str]:
    """Whether to quantize weights to 7 bits, and why (recorded in ``quantization.yaml``). ``None``
    (auto) turns it on where the CPU lacks VNNI/AMX int8: there onnxruntime's u8s8 kernels add pairs of
    8-bit products in saturating 16-bit lanes (ResNet-18 on digits: 8-bit weights 19.4 dB and -1.67
    top-1 points, 7-bit 38.0 dB and +-0), and onnxruntime itself recommends reduce_range on such CPUs."""
    if requested is not None:
        return requested, "forced on with --reduce-range" if requested else "forced off with --no-reduce-range"
    native = [name for name, key in (("VNNI", "vnni"), ("AMX", "amx")) if cpu.get(key)]
    if native:
        return False, f"auto: this CPU has {'/'.join(native)} int8 dot products"
    return True, "auto: no VNNI/AMX on this CPU"


# below this the int8 outputs are visibly off fp32 (ResNet-18 on digits: 19 dB lost 1.7 top-1 points; with
# --reduce-range 38 dB); healthy per-channel int8 CNNs measure 30-40 dB here
LOW_SQNR_DB = 25.0


def reduce_range_hint(record: dict[str, Any], opts: QuantizeOptions) -> Optional[str]:
    """A hint to drop ``--no-reduce-range`` when the user forced 8-bit weights and onnxruntime int8 is
    noisy on a CPU without VNNI/AMX, where its u8s8 kernels sum pairs of 8-bit products in saturating
    16-bit lanes. Auto mode already turns reduce_range on there, so it needs no hint."""
    row = (record.get("agreement") or {}).get(ONNX_INT8)
    cpu = record.get("cpu") or {}
    if opts.fmt != "onnx" or opts.reduce_range is not False or not isinstance(row, dict):
        return None
    if cpu.get("vnni") or cpu.get("amx"):
        return None
    sqnr = row.get("sqnr_db")
    if not isinstance(sqnr, (int, float)) or sqnr >= LOW_SQNR_DB:
        return None
    return (f"note: int8 outputs are {sqnr:.1f} dB from fp32 (below {LOW_SQNR_DB:.0f}) on a CPU without VNNI, where "
            "onnxruntime's int8 kernels can saturate; re-run without --no-reduce-range (7-bit weights, the "
            "default here) and check the metric with nptrain evaluate --artifact")


def _first_artifact(out: Path, fmt: str) -> Path:
    return out / ONNX_INT8 if fmt == "onnx" else out / OPENVINO_DIR / OPENVINO_FILES["int8"]


def _mib(path: Path) -> float:
    size = path.stat().st_size
    if path.suffix == ".xml" and path.with_suffix(".bin").is_file():
        size += path.with_suffix(".bin").stat().st_size
    return size / 2**20


def _ops(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}×{v}" for k, v in counts.items())


def output_agreement(src: Source, *, log: Callable[[str], None], count: int = 16) -> dict[str, Any]:
    """fp32 vs each quantized artifact on up to ``count`` validation images: signal-to-quantization-
    noise ratio in dB and (classification/segmentation) argmax agreement. A quick sanity number;
    ``nptrain evaluate --artifact`` gives the real metric."""
    # lazy: torch, numpy
    import numpy as np

    from nptrain.deploy.runtime import open_artifact
    from nptrain.training.setup import build_data

    try:
        valid = build_data(src.loaded, need_train=False, classes=src.classes or None).valid
    except UserError as exc:
        log(f"note: no validation images for the fp32/int8 agreement check ({exc})")
        return {}
    batch = np.stack([valid[(i, 0)][0].numpy() for i in range(min(count, len(valid)))]).astype(np.float32)
    ref = open_artifact(src.fp32)(batch)
    out: dict[str, Any] = {"images": int(batch.shape[0])}
    for path in sorted(src.out.rglob("model_*.onnx")) + sorted(src.out.rglob("model_*.xml")):
        got = open_artifact(path)(batch)
        noise = float(np.mean((got - ref) ** 2))
        sqnr = 10 * np.log10(float(np.mean(ref ** 2)) / noise) if noise > 0 else float("inf")
        row: dict[str, Any] = {"sqnr_db": round(float(sqnr), 2)}
        if src.loaded.model.task in ("classification", "segmentation"):
            row["argmax_agreement"] = round(float((got.argmax(1) == ref.argmax(1)).mean()), 4)
        out[path.relative_to(src.out).as_posix()] = row
    return out
