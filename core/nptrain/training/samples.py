"""``logging.num_save_samples``: the first N validation images with the model's predictions, as PNGs.

Written at each validation to ``samples/epoch_NNNN/NNN.png`` so the run shows what the model does as
it trains (NetsPresso Trainer's image saver, same field). Classification: the image with the predicted
and true class written above it; segmentation: image | ground truth | prediction side by side;
detection: ground-truth boxes | predicted boxes (score >= 0.3).
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
DRAW_SCORE = 0.3


def _picture(image: torch.Tensor, dataset: Any) -> Image.Image:
    """The network input as the RGB picture it came from: ``normalize`` undone when the pipeline has one."""
    from nptrain.data.transforms import Normalize

    steps = getattr(getattr(dataset, "transform", None), "transforms", [])
    for step in reversed(steps):
        if isinstance(step, Normalize):
            mean = torch.tensor(step.mean, dtype=image.dtype).view(-1, 1, 1)
            std = torch.tensor(step.std, dtype=image.dtype).view(-1, 1, 1)
            image = image * std + mean
            break
    array = (image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(np.ascontiguousarray(array)).convert("RGB")


def _enlarge(picture: Image.Image, nearest: bool = False) -> Image.Image:
    scale = max(1, -(-MIN_SIDE // min(picture.size)))
    if scale == 1:
        return picture
    size = (picture.width * scale, picture.height * scale)
    return picture.resize(size, Image.NEAREST if nearest else Image.BILINEAR)


def _mask_picture(mask: torch.Tensor, colors: list[tuple[int, int, int]]) -> Image.Image:
    lut = np.array(colors + [(255, 255, 255)] * (256 - len(colors)), dtype=np.uint8)  # ignore_index: white
    return Image.fromarray(lut[mask.clamp(0, 255).to(torch.uint8).numpy()])


def _classification(picture: Image.Image, logits: torch.Tensor, label: int, classes: list[str]) -> Image.Image:
    prob = logits.float().softmax(-1)
    pred = int(prob.argmax())
    picture = _enlarge(picture)
    canvas = Image.new("RGB", (picture.width, picture.height + 28), (255, 255, 255))
    canvas.paste(picture, (0, 28))
    draw = ImageDraw.Draw(canvas)
    draw.text((3, 1), f"pred {classes[pred]} {float(prob[pred]):.2f}", fill=(0, 90, 0) if pred == label else (200, 0, 0))
    draw.text((3, 14), f"true {classes[label]}", fill=(0, 0, 0))
    return canvas


def _segmentation(picture: Image.Image, logits: torch.Tensor, mask: torch.Tensor, colors) -> Image.Image:
    import torch.nn.functional as F

    if tuple(logits.shape[-2:]) != tuple(mask.shape[-2:]):
        logits = F.interpolate(logits[None].float(), size=mask.shape[-2:], mode="bilinear", align_corners=False)[0]
    panels = [_enlarge(picture), _enlarge(_mask_picture(mask, colors), True),
              _enlarge(_mask_picture(logits.argmax(0), colors), True)]
    canvas = Image.new("RGB", (sum(p.width for p in panels), panels[0].height), (255, 255, 255))
    x = 0
    for panel in panels:
        canvas.paste(panel, (x, 0))
        x += panel.width
    return canvas


def save_samples(model: torch.nn.Module, dataset: Any, loaded: Any, classes: list[str], count: int,
                 out_dir: Path, device: torch.device) -> int:
    """Predict the first ``count`` validation images and write one PNG each; returns how many were written."""
    from nptrain.report.palette import class_colors
    from nptrain.training.setup import main_output

    task = loaded.model.task
    colors = class_colors(len(classes), loaded.run.data.pallete)
    n = min(count, len(dataset))
    model.eval()
    with torch.no_grad():
        for i in range(n):
            image, target = dataset[(i, 0)]
            out = main_output(model(image[None].to(device)))[0].cpu()
            picture = _picture(image, dataset)
            if task == "classification":
                result = _classification(picture, out, int(target["label"]), classes)
            elif task == "segmentation":
                result = _segmentation(picture, out, target["mask"], colors)
            else:
                result = _detection(picture, out, target, loaded, classes, tuple(image.shape[-2:]))
            buf = io.BytesIO()
            result.save(buf, format="PNG")
            atomic_write_bytes(out_dir / f"{i:03d}.png", buf.getvalue())
    return n


def _detection(picture: Image.Image, raw: torch.Tensor, target: dict, loaded: Any, classes: list[str],
               size: tuple[int, int]) -> Image.Image:
    """Ground-truth boxes | predicted boxes (score >= DRAW_SCORE), enlarged together with their picture."""
    from nptrain.detection.draw import draw_detections
    from nptrain.detection.postprocess import postprocess, postprocess_config

    det = postprocess(raw[None], postprocess_config(loaded, score_thresh=DRAW_SCORE), image_size=size)[0]
    big = _enlarge(picture)
    scale = big.width / picture.width
    truth = torch.as_tensor(target.get("boxes", torch.zeros(0, 4)), dtype=torch.float32).reshape(-1, 4)
    truth_classes = torch.as_tensor(target.get("classes", torch.zeros(0)), dtype=torch.long).reshape(-1)
    panels = [draw_detections(big, truth * scale, torch.ones(len(truth)), truth_classes, classes),
              draw_detections(big, det.boxes * scale, det.scores, det.classes, classes)]
    canvas = Image.new("RGB", (panels[0].width * 2, panels[0].height), (255, 255, 255))
    canvas.paste(panels[0], (0, 0))
    canvas.paste(panels[1], (panels[0].width, 0))
    return canvas
