"""``logging.num_save_samples: N``: the N validation samples that ``val_samples.png`` also draws
from (:mod:`nptrain.report.val_samples` chooses them, spread over the split, and predicts them),
written one PNG each at every validation to ``samples/epoch_NNNN/NNN.png``, so the run shows what the
model does as it trains (NetsPresso Trainer's image saver, same field). Classification: the image
with the predicted and true class written above it; segmentation: image | ground truth | prediction
side by side, in the dataset's palette; detection: ground-truth boxes | predicted boxes
(score >= 0.3, as in val_samples.png).
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from nptrain.training_io import atomic_write_bytes

MIN_SIDE = 128  # small training images are enlarged so captions and masks stay readable


def _enlarge(picture: Image.Image, nearest: bool = False) -> Image.Image:
    scale = max(1, -(-MIN_SIDE // min(picture.size)))
    if scale == 1:
        return picture
    size = (picture.width * scale, picture.height * scale)
    return picture.resize(size, Image.NEAREST if nearest else Image.BILINEAR)


def _classification(picture: Image.Image, probs: torch.Tensor, label: int, classes: list[str]) -> Image.Image:
    pred = int(probs.argmax())
    picture = _enlarge(picture)
    canvas = Image.new("RGB", (picture.width, picture.height + 28), (255, 255, 255))
    canvas.paste(picture, (0, 28))
    draw = ImageDraw.Draw(canvas)
    draw.text((3, 1), f"pred {classes[pred]} {float(probs[pred]):.2f}", fill=(0, 90, 0) if pred == label else (200, 0, 0))
    draw.text((3, 14), f"true {classes[label]}", fill=(0, 0, 0))
    return canvas


def _side_by_side(panels: list[Image.Image]) -> Image.Image:
    canvas = Image.new("RGB", (sum(p.width for p in panels), panels[0].height), (255, 255, 255))
    x = 0
    for panel in panels:
        canvas.paste(panel, (x, 0))
        x += panel.width
    return canvas


def _segmentation(picture: Image.Image, pred: torch.Tensor, truth: torch.Tensor, colors) -> Image.Image:
    # lazy: layer (README map: training/ may not import report)
    from nptrain.report.val_samples import colorize

    return _side_by_side([_enlarge(picture), _enlarge(Image.fromarray(colorize(truth, colors)), True),
                          _enlarge(Image.fromarray(colorize(pred, colors)), True)])


def _detection(picture: Image.Image, sample: dict[str, Any], classes: list[str]) -> Image.Image:
    """Ground-truth boxes | predicted boxes, enlarged together with their picture."""
    # lazy: layer (README map: training/ may not import detection)
    from nptrain.detection.draw import draw_detections

    big = _enlarge(picture)
    scale = big.width / picture.width
    target = sample["target"]
    truth = torch.as_tensor(target.get("boxes", torch.zeros(0, 4)), dtype=torch.float32).reshape(-1, 4)
    truth_classes = torch.as_tensor(target.get("classes", torch.zeros(0)), dtype=torch.long).reshape(-1)
    return _side_by_side([draw_detections(big, truth * scale, torch.ones(len(truth)), truth_classes, classes),
                          draw_detections(big, sample["boxes"] * scale, sample["scores"], sample["classes"], classes)])


def render_sample(sample: dict[str, Any], task: str, classes: list[str], colors) -> Image.Image:
    """One sample of :func:`nptrain.report.val_samples.collect` as a picture of its own."""
    picture = Image.fromarray(np.ascontiguousarray(sample["image"])).convert("RGB")
    if task == "classification":
        return _classification(picture, sample["probs"], int(sample["target"]["label"]), classes)
    if task == "segmentation":
        return _segmentation(picture, sample["mask"], sample["target"]["mask"], colors)
    return _detection(picture, sample, classes)


def save_samples(model: torch.nn.Module, dataset: Any, loaded: Any, classes: list[str], count: int,
                 out_dir: Path, device: torch.device) -> int:
    """Predict the ``count`` chosen validation samples and write one PNG each; returns how many were written."""
    # lazy: layer (README map: training/ may not import report)
    from nptrain.report import val_samples as vs
    from nptrain.report.best_epoch import sample_colors

    task = loaded.model.task
    post = None
    if task == "detection":
        # lazy: layer (README map: training/ may not import detection)
        from nptrain.detection.postprocess import postprocess_config

        post = postprocess_config(loaded)
    samples = vs.collect(model, dataset, task, device=device, postprocess_config=post, n=count)
    colors = sample_colors(loaded, dataset, classes) if task == "segmentation" else []
    for k, sample in enumerate(samples):
        buf = io.BytesIO()
        render_sample(sample, task, classes, colors).save(buf, format="PNG")
        atomic_write_bytes(out_dir / f"{k:03d}.png", buf.getvalue())
    return len(samples)
