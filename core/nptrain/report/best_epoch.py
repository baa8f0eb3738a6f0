"""The pictures refreshed at each new best epoch, next to ``weights/best.safetensors``:
``confusion_matrix.png`` (classification, segmentation), ``pr_curve.png`` (detection) and
``val_samples.png`` (every task), each also sent to TensorBoard under ``best/<name>``.

A picture that fails is reported in one line and skipped: it never ends a run.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

import torch

CONFUSION, PR_CURVE, SAMPLES = "confusion_matrix.png", "pr_curve.png", "val_samples.png"


def write_best_pictures(run_dir: Path, *, loaded: Any, metric: Any, model: torch.nn.Module, dataset: Any,
                        classes: list[str], device: torch.device, epoch: int, tensorboard: Any = None,
                        memory_format: torch.memory_format = torch.contiguous_format,
                        log: Callable[[str], None] = print) -> list[Path]:
    """Write the pictures of the epoch ``metric`` was computed on; returns the files written."""
    task = loaded.model.task
    jobs: list[tuple[str, Callable[[Path], None]]] = []
    confusion = metric.confusion()
    if confusion is not None and task in ("classification", "segmentation"):
        jobs.append((CONFUSION, lambda p: _confusion(p, confusion, classes, task, epoch)))
    if task == "detection" and hasattr(metric, "pr_curves"):
        jobs.append((PR_CURVE, lambda p: _pr(p, metric.pr_curves(), classes)))
    jobs.append((SAMPLES, lambda p: _samples(p, loaded, model, dataset, classes, device, memory_format)))
    written = []
    for name, job in jobs:
        path = run_dir / name
        try:
            job(path)
        except Exception as exc:  # noqa: BLE001 - a picture must never end a run
            log(f"picture skipped: {name}: {type(exc).__name__}: {exc}")
            continue
        written.append(path)
        if tensorboard is not None:
            tensorboard.image(f"best/{Path(name).stem}", path, epoch)
    return written


def _confusion(path: Path, confusion: torch.Tensor, classes: list[str], task: str, epoch: int) -> None:
    from nptrain.report.confusion import plot_confusion

    unit = "pixels" if task == "segmentation" else "images"
    plot_confusion(path, confusion.double().numpy(), classes, unit=unit, title=f"epoch {epoch}")


def _pr(path: Path, curves: list[Optional[Any]], classes: list[str]) -> None:
    from nptrain.report.pr_curve import plot_pr_curves

    plot_pr_curves(path, curves, classes)


def _samples(path: Path, loaded: Any, model: torch.nn.Module, dataset: Any, classes: list[str],
             device: torch.device, memory_format: torch.memory_format) -> None:
    from nptrain.report import val_samples as vs

    task = loaded.model.task
    post = None
    if task == "detection":
        from nptrain.training.setup import postprocess_config

        post = postprocess_config(loaded)
    samples = vs.collect(model, dataset, task, device=device, memory_format=memory_format, postprocess_config=post)
    if task == "classification":
        vs.plot_classification(path, samples, classes)
    elif task == "segmentation":
        from nptrain.report.palette import dataset_palette

        masks = [dataset.samples[0][1]] if len(dataset) else []
        colors = dataset_palette(loaded, len(classes), masks)
        vs.plot_segmentation(path, samples, classes, colors, loaded.run.data.ignore_index)
    elif task == "detection":
        vs.plot_detection(path, samples, classes)
