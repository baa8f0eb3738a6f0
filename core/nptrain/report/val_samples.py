"""``val_samples.png``: validation images with prediction against ground truth, for every task.

- classification: a grid of images captioned ``true`` / ``pred (probability)``, green when right,
  red when wrong;
- segmentation: image | ground truth | prediction, masks in the dataset's palette, one legend;
- detection: ground-truth boxes dashed white, predictions solid in their class colour with
  ``class score`` captions (score ≥ :data:`DET_SCORE`).

The samples are spread evenly over the validation split (the same ones at every refresh, so
successive best epochs compare directly) and shown as the model sees them (after the inference
transforms, normalisation undone).

``logging.num_save_samples: N`` (NetsPresso Trainer's field) chooses the samples for both pictures
of predictions a run draws: the N spread over the split are written one PNG each at every
validation (``samples/epoch_NNNN/``, :mod:`nptrain.training.samples`), and ``val_samples.png``
shows :func:`grid_limit` of those same N, spread over them (0, the default: no folders, and the picture
shows :data:`NUM_SAMPLES`, or :data:`NUM_SEG_SAMPLES` for segmentation).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

from nptrain.report.figure_io import pyplot, save_figure

NUM_SAMPLES = 16  # classification / detection images per picture (NetsPresso saves 16 too)
NUM_SEG_SAMPLES = 8  # segmentation shows three panels per sample
DET_SCORE = 0.3  # lowest score drawn, as `nptrain predict` does by default
RIGHT, WRONG = "#1a7f37", "#cf222e"
MAX_GRID, MAX_SEG_GRID = 32, 16  # the most val_samples.png shows, so it stays readable


def sample_count(task: str, num_save_samples: int = 0) -> int:
    """How many validation samples are chosen: ``logging.num_save_samples``, else the picture's default."""
    return num_save_samples or (NUM_SEG_SAMPLES if task == "segmentation" else NUM_SAMPLES)


def grid_limit(task: str) -> int:
    """How many of the chosen samples ``val_samples.png`` shows (spread over them)."""
    return MAX_SEG_GRID if task == "segmentation" else MAX_GRID


def sample_indices(size: int, n: int) -> list[int]:
    """``n`` indices spread evenly over ``range(size)`` (all of them when there are fewer)."""
    if size <= n:
        return list(range(size))
    return sorted({int(round(v)) for v in np.linspace(0, size - 1, n)})


def display_image(image: torch.Tensor, transform: Any) -> np.ndarray:
    """``(C, H, W)`` model input → ``(H, W, 3)`` uint8: the pipeline's ``normalize`` undone."""
    # lazy: layer (README map: report/ may not import data)
    from nptrain.data.transforms import Normalize

    x = image.detach().float().cpu()
    for t in reversed(getattr(transform, "transforms", [])):
        if isinstance(t, Normalize):
            x = x * torch.tensor(t.std).view(-1, 1, 1) + torch.tensor(t.mean).view(-1, 1, 1)
            break
    if x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    return (x[:3].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


@torch.no_grad()
def collect(model: torch.nn.Module, dataset: Any, task: str, *, device: torch.device,
            memory_format: torch.memory_format = torch.contiguous_format, postprocess_config: Any = None,
            n: Optional[int] = None, limit: Optional[int] = None) -> list[dict[str, Any]]:
    """Run ``model`` on the ``n`` chosen validation samples (at most ``limit`` of them, spread over the
    chosen ones so they still cover the split): per sample its dataset ``index``, the display image,
    the target and the prediction (``probs``, ``mask`` or ``boxes``/``scores``/``classes`` in input pixels)."""
    # lazy: ruamel
    from nptrain.training.setup import main_output

    n = n or sample_count(task)
    was_training = model.training
    model.eval()
    out = []
    try:
        chosen = sample_indices(len(dataset), n)
        if limit is not None and len(chosen) > limit:
            chosen = [chosen[k] for k in sample_indices(len(chosen), limit)]
        for i in chosen:
            image, target = dataset[(i, 0)]
            pred = main_output(model(image[None].to(device, memory_format=memory_format))).float().cpu()
            item: dict[str, Any] = {"index": i, "image": display_image(image, dataset.transform), "target": target}
            if task == "classification":
                item["probs"] = pred.softmax(-1)[0]
            elif task == "segmentation":
                if tuple(pred.shape[-2:]) != tuple(image.shape[-2:]):
                    pred = torch.nn.functional.interpolate(pred, size=image.shape[-2:], mode="bilinear",
                                                           align_corners=False)
                item["mask"] = pred.argmax(1)[0]
            elif task == "detection":
                # lazy: layer (README map: report/ may not import detection)
                from nptrain.detection.postprocess import postprocess

                det = postprocess(pred, postprocess_config, image_size=tuple(image.shape[-2:]))[0]
                keep = det.scores >= DET_SCORE
                item.update(boxes=det.boxes[keep], scores=det.scores[keep], classes=det.classes[keep])
            out.append(item)
    finally:
        model.train(was_training)
    return out


def _grid(plt: Any, count: int, cols: int, cell: tuple[float, float]) -> tuple[Any, list[Any]]:
    cols = max(1, min(cols, count))
    rows = -(-count // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cell[0] * cols, cell[1] * rows), squeeze=False,
                             layout="constrained")
    flat = [ax for row in axes for ax in row]
    for ax in flat:
        ax.axis("off")
    return fig, flat


def plot_classification(path: Path, samples: Sequence[dict[str, Any]], classes: Sequence[str]) -> None:
    plt = pyplot()
    fig, axes = _grid(plt, len(samples), 4, (2.6, 2.9))
    right = 0
    for ax, s in zip(axes, samples):
        label = int(s["target"]["label"])
        p, k = (float(v) for v in s["probs"].max(0))
        ok = int(k) == label
        right += ok
        ax.axis("on")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.imshow(s["image"], interpolation="nearest")
        ax.set_title(f"true: {classes[label]}\npred: {classes[int(k)]} ({p:.2f})", fontsize=9,
                     color=RIGHT if ok else WRONG)
        for side in ax.spines.values():  # a coloured frame reads faster than the caption
            side.set_visible(True)
            side.set_color(RIGHT if ok else WRONG)
            side.set_linewidth(3)
    fig.suptitle(f"validation samples: {right}/{len(samples)} right (green) / wrong (red)", fontsize=11)
    save_figure(fig, path)


def colorize(mask: torch.Tensor, colors: Sequence[tuple[int, int, int]]) -> np.ndarray:
    """Class-id mask → RGB; ``ignore_index`` and any other id outside the classes light grey."""
    ids = mask.long().numpy()
    rgb = np.full(ids.shape + (3,), 200, dtype=np.uint8)
    known = (ids >= 0) & (ids < len(colors))
    rgb[known] = np.array(colors, dtype=np.uint8)[ids[known]]
    return rgb


def plot_segmentation(path: Path, samples: Sequence[dict[str, Any]], classes: Sequence[str],
                      colors: Sequence[tuple[int, int, int]], ignore_index: int = 255) -> None:
    from matplotlib.patches import Patch

    plt = pyplot()
    pairs = 2 if len(samples) > 1 else 1
    rows = -(-len(samples) // pairs)
    fig, axes = plt.subplots(rows, 3 * pairs, figsize=(2.2 * 3 * pairs, 2.5 * rows + 0.6), squeeze=False,
                             layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for i, s in enumerate(samples):
        r, c = divmod(i, pairs)
        truth, pred = s["target"]["mask"], s["mask"]
        valid = (truth != ignore_index)
        acc = float(((truth == pred) & valid).sum()) / max(int(valid.sum()), 1)
        panels = [(s["image"], "image"), (colorize(truth, colors), "ground truth"),
                  (colorize(pred, colors), f"prediction ({acc:.0%} px)")]
        for j, (picture, title) in enumerate(panels):
            ax = axes[r][3 * c + j]
            ax.imshow(picture, interpolation="nearest")
            ax.set_title(title, fontsize=9)
    handles = [Patch(facecolor=np.array(col) / 255.0, edgecolor="black", label=name) for name, col in zip(classes, colors)]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 8), fontsize=9, frameon=False)
    fig.suptitle("validation samples: image | ground truth | prediction (grey: ignored)", fontsize=11)
    save_figure(fig, path)


def plot_detection(path: Path, samples: Sequence[dict[str, Any]], classes: Sequence[str]) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    # lazy: layer (README map: report/ may not import detection)
    from nptrain.detection.draw import box_colors

    plt = pyplot()
    fig, axes = _grid(plt, len(samples), 4, (3.0, 3.0))
    colors = [tuple(v / 255.0 for v in c) for c in box_colors(len(classes))]
    for ax, s in zip(axes, samples):
        ax.imshow(s["image"], interpolation="nearest")
        h, w = s["image"].shape[:2]
        for box in s["target"]["boxes"].reshape(-1, 4).tolist():
            ax.add_patch(Rectangle((box[0], box[1]), box[2] - box[0], box[3] - box[1], fill=False,
                                   edgecolor="white", linestyle="--", linewidth=1.5))
        for box, score, c in zip(s["boxes"].tolist(), s["scores"].tolist(), s["classes"].tolist()):
            col = colors[int(c)]
            ax.add_patch(Rectangle((box[0], box[1]), box[2] - box[0], box[3] - box[1], fill=False,
                                   edgecolor=col, linewidth=1.5))
            # inside the picture: above the box when there is room, else just inside its top edge
            y = box[1] if box[1] > 0.08 * h else box[1] + 0.08 * h
            ax.text(min(box[0], w * 0.6), y, f"{classes[int(c)]} {score:.2f}", fontsize=7, color="black",
                    va="bottom", bbox=dict(facecolor=col, edgecolor="none", pad=1.0, alpha=0.85), clip_on=True)
        n_gt = int(s["target"]["boxes"].reshape(-1, 4).shape[0])
        ax.set_title(f"{n_gt} true, {len(s['scores'])} predicted", fontsize=9)
        ax.set_xlim(0, w)
        ax.set_ylim(h, 0)
    handles = [Line2D([], [], color="gray", linestyle="--", label="ground truth"),
               *[Line2D([], [], color=col, label=f"pred: {name}") for name, col in zip(classes[:12], colors)]]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 6), fontsize=8, frameon=False)
    fig.suptitle(f"validation samples: ground truth (dashed) vs predictions (score ≥ {DET_SCORE})", fontsize=11)
    save_figure(fig, path)
