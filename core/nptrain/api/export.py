"""``nptrain.export`` / ``nptrain export``: a run (or config, or fx file) to ONNX or torch.fx.

ONNX goes through :func:`nptrain.export_tools.export_onnx_checked`, the export ``nptrain run`` does
at its end, so both write the same file for the same weights and opset: input ``images``, output
``logits`` (``predictions`` for detection), dynamic batch, ``logging.onnx_opset`` unless asked
otherwise. The run's own files are never replaced unless ``force``: without ``output`` the file
goes to ``RUN_DIR/exports/``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Union

from nptrain.api.runs import Run
from nptrain.errors import UserError
from nptrain.run_files import read_summary

FORMATS = ("onnx", "fx")
WEIGHTS = ("best", "last")


@dataclass(frozen=True)
class ExportResult:
    path: Path
    format: str  # onnx | fx
    weights: Optional[Path]  # the run's weights file exported (None for a config or fx file)
    weights_note: str  # which epoch those weights come from, for people
    opset: Optional[int] = None
    dynamic_batch: Optional[bool] = None
    output_name: Optional[str] = None
    max_abs_diff: Optional[float] = None  # onnxruntime against PyTorch
    check: str = ""  # the onnxruntime comparison in words


def default_export_path(run_dir: Optional[Path], fallback_dir: Path, fmt: str, *, weights: str, opset: int,
                        dynamic_batch: bool) -> Path:
    """``RUN_DIR/exports/model-<weights>-opset<N>.onnx`` (``-static`` for a fixed batch) or
    ``model-<weights>_fx.pt``; a config's or file's exports go to ``fallback_dir``."""
    folder = run_dir / "exports" if run_dir is not None else fallback_dir
    tag = f"-{weights}" if run_dir is not None else ""
    if fmt == "fx":
        return folder / f"model{tag}_fx.pt"
    return folder / f"model{tag}-opset{opset}{'' if dynamic_batch else '-static'}.onnx"


def check_not_run_file(out: Path, run_dir: Optional[Path], force: bool) -> None:
    """Refuse to replace a file the run wrote (weights/model.onnx, weights/model_fx.pt, ...) unless forced."""
    if run_dir is None or force or not out.exists():
        return
    resolved, root = out.resolve(), run_dir.resolve()
    if resolved.is_relative_to(root) and not resolved.is_relative_to(root / "exports"):
        raise UserError(f"{out} is the run's own file; pass --force (force=True) to overwrite it, "
                        f"or write elsewhere with -o (default: {run_dir / 'exports'}/)")


def weights_note(run_dir: Path, weights_path: Path) -> str:
    """``best epoch 3, top1_accuracy 0.9312`` / ``last epoch 5`` for a run's weights file."""
    summary = read_summary(run_dir)
    best, last = summary.get("best"), summary.get("last")
    if weights_path.name == "best.safetensors" and isinstance(best, dict) and "epoch" in best:
        key = str(best.get("key", ""))
        value = best.get("value")
        score = f", {key[6:] if key.startswith('valid_') else key} {value:.4f}" if isinstance(value, float) else ""
        return f"best epoch {best['epoch']}{score}"
    if weights_path.name == "last.safetensors" and isinstance(last, dict) and "epoch" in last:
        return f"last epoch {last['epoch']}"
    return weights_path.stem


def export(run: Union[Run, str, Path], format: str = "onnx", *, opset: Optional[int] = None,  # noqa: A002
           dynamic_batch: bool = True, weights: str = "best", output: Union[str, Path, None] = None,
           force: bool = False, input_size: Optional[int] = None,
           log: Callable[[str], None] = print) -> ExportResult:
    """Export ``run`` (a :class:`Run`, a run directory, a config file or an fx ``.pt``) and check it.

    ``opset`` defaults to the config's ``logging.onnx_opset`` (18 for an fx file); ``weights`` picks
    ``weights/best.safetensors`` or ``weights/last.safetensors`` of a run; ``output`` is the file to
    write. ``log`` receives the line naming the weights used (``quiet``: pass ``lambda _: None``)."""
    # lazy: torch
    from nptrain.compression.source import example_input, load_model_source
    from nptrain.export_tools import describe_check, export_onnx_checked, onnx_output_name

    if format not in FORMATS:
        raise UserError(f"export format {format!r}: expected one of {', '.join(FORMATS)}")
    if weights not in WEIGHTS:
        raise UserError(f"weights {weights!r}: expected one of {', '.join(WEIGHTS)}")
    target = str(run.dir if isinstance(run, Run) else run)
    is_run = Path(target).is_dir()
    src = load_model_source(target, input_size=input_size, weights=weights if is_run else None)
    loaded = src.loaded
    if opset is None:
        opset = loaded.run.logging.onnx_opset if loaded is not None else 18
    if opset < 1:
        raise UserError(f"opset must be a positive integer, got {opset}")
    # a config or model file may sit in a source tree: its exports go under the configured output
    # folder (runs/exports/<name>), never next to it
    fallback = Path(loaded.run.logging.output_dir if loaded is not None else "runs") / "exports" / src.name
    out = Path(output) if output is not None else default_export_path(
        src.run_dir, fallback, format, weights=weights, opset=opset, dynamic_batch=dynamic_batch)
    check_not_run_file(out, src.run_dir, force)
    note = ""
    if src.weights is not None and src.run_dir is not None:
        note = weights_note(src.run_dir, src.weights)
        log(f"weights: {src.weights} ({note})")
    out.parent.mkdir(parents=True, exist_ok=True)
    if format == "fx":
        # lazy: torch
        from nptrain.training.export import export_fx

        res = export_fx(src.model, out)
        if not res["ok"]:
            raise UserError(f"fx export failed: {res['error']}")
        return ExportResult(out, "fx", src.weights, note)
    task = loaded.model.task if loaded is not None else None
    res = export_onnx_checked(src.model, example_input(src, 2 if dynamic_batch else 1), out, opset=opset, dynamic_batch=dynamic_batch,
                              output_name=onnx_output_name(task))
    return ExportResult(out, "onnx", src.weights, note, opset=int(res["opset"]), dynamic_batch=dynamic_batch,
                        output_name=res["output_name"], max_abs_diff=float(res["max_abs_diff"]),
                        check=describe_check(res))
