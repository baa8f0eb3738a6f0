"""The end of a run: ``summary.json`` (params, FLOPs, best and last epoch, wall time, unreadable files skipped,
export results), the fx and ONNX exports of the best weights, and the closing lines of the log."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import torch
from torch import nn

from nptrain.export_tools import describe_check, onnx_output_name
from nptrain.training import outputs
from nptrain.training.export import export_fx, export_onnx

if TYPE_CHECKING:
    from nptrain.training.engine import Trainer


def count_flops(model: nn.Module, sample: torch.Tensor) -> Optional[int]:
    try:
        from torch.utils.flop_counter import FlopCounterMode

        model = model.eval()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(sample[:1])
        return int(counter.get_total_flops())
    except Exception:  # noqa: BLE001 - informative only
        return None


def write_summary_and_exports(trainer: "Trainer", run_dir: Path) -> None:
    """What a finished run writes after its last epoch (rank 0); reads the trainer, changes nothing in it."""
    lg = trainer.run_cfg.logging
    # a copy on CPU: exporting must not move or alter the trained model
    model = copy.deepcopy(trainer.eval_model()).cpu().eval()
    best_path = run_dir / "weights" / "best.safetensors"
    if best_path.is_file():  # export what weights/best holds
        # lazy: safetensors
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(best_path)))
    sample = torch.stack([trainer.data.valid[(i, 0)][0] for i in range(min(2, len(trainer.data.valid)))])
    size = lg.model_save_options.sample_input_size
    if size:  # FLOPs and exports at the configured input size
        sample = torch.nn.functional.interpolate(sample, size=(int(size[0]), int(size[1])), mode="bilinear",
                                                 align_corners=False)
    summary: dict[str, Any] = {
        "task": trainer.task, "name": trainer.name, "classes": trainer.data.classes,
        "epochs": trainer.run_cfg.training.epochs,
        "params": sum(p.numel() for p in model.parameters()),
        "flops": count_flops(model, sample), "input_shape": list(sample.shape[1:]),
        "best": trainer.best, "last": trainer.history[-1] if trainer.history else None,
        # epochs' time summed over every (resumed) session; this session's wall time separately
        "wall_time_s": round(sum(r.get("time_s", 0.0) for r in trainer.history), 2),
        "session_wall_time_s": round(trainer.wall, 2),
        "world_size": trainer.dist.world_size,
    }
    if trainer.stopped_early:  # training.early_stopping: the epoch it stopped after, and why
        summary["stopped_early"] = trainer.stopped_early
    if trainer.bad_files:  # data.on_bad_file: skip (rank 0's share under DDP)
        summary["bad_files"] = {"skipped_reads": sum(trainer.bad_files.values()), "files": sorted(trainer.bad_files)}
    exports: dict[str, Any] = {}
    if lg.fx_export:
        exports["fx"] = export_fx(model, run_dir / "weights" / "model_fx.pt")
        trainer.log("export fx: " + ("weights/model_fx.pt" if exports["fx"]["ok"] else f"FAILED {exports['fx']['error']}"))
    if lg.onnx_export:
        # the same export (names, dynamic batch, opset) as `nptrain export RUN_DIR`
        exports["onnx"] = res = export_onnx(model, sample, run_dir / "weights" / "model.onnx", lg.onnx_opset,
                                            output_name=onnx_output_name(trainer.task))
        if res["ok"]:
            trainer.log(f"export onnx: weights/model.onnx (opset {res['opset']}, dynamic batch, output "
                     f"'{res['output_name']}'), onnxruntime {describe_check(res)}")
        else:
            trainer.log(f"export onnx: FAILED {res['error']} (weights are saved; the run itself succeeded)")
    for res in exports.values():  # which weights the files hold, as `nptrain export` says
        res["weights"] = "best" if best_path.is_file() else "last"
    summary["export"] = exports
    outputs.write_json(run_dir / "summary.json", summary)
    if trainer.best:
        trainer.log(f"best epoch {trainer.best['epoch']}: {trainer.best['key'][6:]} {trainer.best['value']:.4f}  "
                 f"({summary['wall_time_s']:.1f}s)  → {run_dir}")
        table = trainer._metric().format_details(trainer.best)
        if table:
            trainer.log(table)
    # lazy: layer (README map: training/ may not import report)
    from nptrain.report.next_steps import example_image, next_steps

    for line in next_steps(run_dir, example_image(trainer.data.valid)):
        trainer.log(line)
