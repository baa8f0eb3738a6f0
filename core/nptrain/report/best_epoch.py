"""The pictures of the best epoch, next to ``weights/best.safetensors``, as the task's ``plots`` name them:
``confusion_matrix.png`` (classification, segmentation), ``pr_curve.png`` (detection) and
``val_samples.png`` (the built-in tasks), each also sent to TensorBoard under ``best/<name>`` at the best epoch's step.

Drawing them costs 2-3 s of CPU, about as much as a whole epoch of the quickstart, so
:class:`BestPictures` refreshes them at a new best epoch at most every :data:`MIN_REFRESH_S`
seconds; a best epoch that came sooner is drawn at the end of the session from
``weights/best.safetensors``, so the files a session leaves always show its best epoch.
A picture that fails is reported in one line and skipped: it never ends a run.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Optional
import copy

import torch
from nptrain.report.confusion import plot_confusion
from nptrain.report.pr_curve import plot_pr_curves
from nptrain.report import val_samples as vs
from nptrain.report.palette import dataset_palette

CONFUSION, PR_CURVE, SAMPLES = "confusion_matrix.png", "pr_curve.png", "val_samples.png"
MIN_REFRESH_S = 30.0


class Throttle:
    """``due()`` is true at most once per ``interval_s`` seconds (always for the first call, and
    whenever ``final``), so per-epoch pictures cost little on runs whose epochs take a second."""

    def __init__(self, interval_s: float = MIN_REFRESH_S) -> None:
        self.interval_s = interval_s
        self.last: Optional[float] = None

    def due(self, final: bool = False) -> bool:
        now = time.monotonic()
        if final or self.last is None or now - self.last >= self.interval_s:
            self.last = now
            return True
        return False


class BestPictures:
    """Rank 0's best-epoch pictures for one training session (see the module docstring)."""

    def __init__(self, run_dir: Path, *, loaded: Any, dataset: Any, classes: list[str], device: torch.device,
                 memory_format: torch.memory_format = torch.contiguous_format, tensorboard: Any = None,
                 log: Callable[[str], None] = print, interval_s: float = MIN_REFRESH_S) -> None:
        self.run_dir, self.loaded, self.dataset, self.classes = run_dir, loaded, dataset, classes
        self.device, self.memory_format, self.tensorboard, self.log = device, memory_format, tensorboard, log
        self.throttle = Throttle(interval_s)
        self.pending: Optional[tuple[Any, int]] = None  # (metric, epoch) of a best epoch not drawn yet

    def on_best(self, metric: Any, model: torch.nn.Module, epoch: int, final: bool = False) -> None:
        """A new best epoch (``metric`` computed on it, ``model`` holding its weights)."""
        if self.throttle.due(final):
            self.pending = None
            self._write(metric, model, epoch)
        else:
            self.pending = (metric, epoch)

    def flush(self, model: torch.nn.Module) -> None:
        """End of the session: draw a best epoch that was skipped, with ``weights/best.safetensors``
        loaded into a copy of ``model``."""
        if self.pending is None:
            return

        # lazy: safetensors
        from safetensors.torch import load_file

        metric, epoch = self.pending
        self.pending = None
        best = copy.deepcopy(model)
        best.load_state_dict(load_file(str(self.run_dir / "weights" / "best.safetensors")))
        self._write(metric, best, epoch)

    def _write(self, metric: Any, model: torch.nn.Module, epoch: int) -> None:
        write_best_pictures(self.run_dir, loaded=self.loaded, metric=metric, model=model, dataset=self.dataset,
                            classes=self.classes, device=self.device, epoch=epoch, tensorboard=self.tensorboard,
                            memory_format=self.memory_format, log=self.log)


def write_best_pictures(run_dir: Path, *, loaded: Any, metric: Any, model: torch.nn.Module, dataset: Any,
                        classes: list[str], device: torch.device, epoch: int, tensorboard: Any = None,
                        memory_format: torch.memory_format = torch.contiguous_format,
                        log: Callable[[str], None] = print) -> list[Path]:
    """Write the pictures of the epoch ``metric`` was computed on; returns the files written."""
    task, plots = loaded.model.task, loaded.task_spec.plots
    jobs: list[tuple[str, Callable[[Path], None]]] = []
    confusion = metric.confusion()
    if confusion is not None and "confusion" in plots:
        jobs.append((CONFUSION, lambda p: _confusion(p, confusion, classes, task, epoch)))
    if "pr_curve" in plots and hasattr(metric, "pr_curves"):
        jobs.append((PR_CURVE, lambda p: _pr(p, metric.pr_curves(), classes)))
    if "samples" in plots:
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
    unit = "pixels" if task == "segmentation" else "images"
    plot_confusion(path, confusion.double().numpy(), classes, unit=unit, title=f"epoch {epoch}")


def _pr(path: Path, curves: list[Optional[Any]], classes: list[str]) -> None:
    plot_pr_curves(path, curves, classes)


def _samples(path: Path, loaded: Any, model: torch.nn.Module, dataset: Any, classes: list[str],
             device: torch.device, memory_format: torch.memory_format) -> None:
    task = loaded.model.task
    post = None
    if task == "detection":
        # lazy: layer (README map: report/ may not import detection)
        from nptrain.detection.postprocess import postprocess_config

        post = postprocess_config(loaded)
    # logging.num_save_samples chooses the samples; the picture shows up to 32 (16) of them
    samples = vs.collect(model, dataset, task, device=device, memory_format=memory_format, postprocess_config=post,
                         n=vs.sample_count(task, loaded.run.logging.num_save_samples), limit=vs.grid_limit(task))
    if task == "classification":
        vs.plot_classification(path, samples, classes)
    elif task == "segmentation":
        vs.plot_segmentation(path, samples, classes, sample_colors(loaded, dataset, classes),
                             loaded.run.data.ignore_index)
    elif task == "detection":
        vs.plot_detection(path, samples, classes)


def sample_colors(loaded: Any, dataset: Any, classes: list[str]) -> list[tuple[int, int, int]]:
    """The class colours of the sample pictures: the dataset's palette (``data.pallete``, else its masks')."""
    segmentation = loaded.model.task == "segmentation"
    masks = [dataset.samples[0][1]] if segmentation and len(dataset) and hasattr(dataset, "samples") else []
    return dataset_palette(loaded, len(classes), masks)
