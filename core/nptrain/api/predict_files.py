"""The files ``nptrain predict -o OUT`` writes from :mod:`nptrain.api.predict`'s results.

Classification: ``OUT/predictions.csv`` (one row per image, top-k classes) and ``OUT/predictions.png``
(the images labelled with their predicted class). Segmentation, per image: ``OUT/<stem>_mask.png``
(a palette PNG whose pixel values are the class ids) and ``OUT/<stem>_overlay.png`` (the classes
blended in, a legend below, in the dataset's palette). Detection: ``OUT/<stem>_boxes.png`` and one
``OUT/detections.json`` with every image's boxes in its own pixels.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence
import csv
import io
import json
import re

import numpy as np

from nptrain.api.prediction_results import ClassScores, Detections, Predictions, SegmentationMask
from nptrain.training_io import atomic_write_bytes

LEGEND_ALL_UP_TO = 12  # more classes than this: the overlay legend lists only those predicted


def write_predictions(loaded: Any, classes: list[str], results: Sequence[Any], out: Path) -> Predictions:
    """Write ``results`` into ``out``; returns them with each result's own ``files`` filled in."""
    out.mkdir(parents=True, exist_ok=True)
    if results and isinstance(results[0], ClassScores):
        return _classification(results, out)
    if results and isinstance(results[0], SegmentationMask):
        return _segmentation(loaded, classes, results, out)
    return _detection(classes, results, out)


def _unique_stem(path: str, stems: set[str]) -> str:
    stem = Path(path).stem
    if stem in stems:  # two inputs with one name must not overwrite each other
        stem = f"{stem}_{len(stems)}"
    stems.add(stem)
    return stem


def _classification(results: Sequence[ClassScores], out: Path) -> Predictions:
    # lazy: torch; layer (README map: api/ may not import report)
    from nptrain.data.datasets import read_image
    from nptrain.report.prediction_pictures import MAX_GRID, plot_prediction_grid
    k = max(len(r.top) for r in results)
    header = ["image", "class", "class_id", "probability"]
    for rank in range(2, k + 1):
        header += [f"class_{rank}", f"probability_{rank}"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for r in results:
        (name, index, prob), rest = r.top[0], r.top[1:]
        row: list = [r.image, name, index, f"{prob:.4f}"]
        for other, _i, p in rest:
            row += [other, f"{p:.4f}"]
        writer.writerow(row)
    shown = results[:MAX_GRID]
    atomic_write_bytes(out / "predictions.csv", buf.getvalue().encode())
    plot_prediction_grid(out / "predictions.png", [read_image(Path(r.image)).permute(1, 2, 0).numpy() for r in shown],
                         [Path(r.image).name for r in shown], [f"{r.label} ({r.score:.2f})" for r in shown])
    return Predictions(results, [out / "predictions.csv", out / "predictions.png"])


def _segmentation(loaded: Any, classes: list[str], results: Sequence[SegmentationMask], out: Path) -> Predictions:
    # lazy: torch, PIL; layer (README map: api/ may not import report)
    from PIL import Image

    from nptrain.data.datasets import read_image
    from nptrain.report.palette import dataset_palette
    from nptrain.report.prediction_pictures import add_legend, display_scale

    colors = dataset_palette(loaded, len(classes))  # data.pallete, else the mask files' own palette
    lut = np.array(colors, dtype=np.float32)
    flat_palette = [v for c in colors for v in c]
    stems: set[str] = set()
    done = []
    for r in results:
        pred = r.mask
        stem = _unique_stem(r.image, stems)
        mask = Image.frombytes("P", (pred.shape[1], pred.shape[0]), np.ascontiguousarray(pred).tobytes())
        mask.putpalette(flat_palette)
        mask.save(out / f"{stem}_mask.png")
        rgb = read_image(Path(r.image)).permute(1, 2, 0).numpy().astype(np.float32)
        # background (id 0) keeps the picture; other classes are tinted half-way to their colour
        alpha = np.where(pred[..., None] == 0, 0.0, 0.5).astype(np.float32)
        blend = rgb * (1 - alpha) + lut[pred] * alpha
        counts = np.bincount(pred.ravel(), minlength=len(classes))
        shown = [i for i in range(len(classes)) if len(classes) <= LEGEND_ALL_UP_TO or counts[i]]
        legend = [(f"{classes[i]}{' (not tinted)' if i == 0 else ''}", colors[i]) for i in shown]
        picture = Image.fromarray(blend.round().clip(0, 255).astype(np.uint8))
        scale = display_scale(picture.size)  # a 64 px picture is enlarged so its legend reads
        if scale > 1:
            picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
        add_legend(picture, legend).save(out / f"{stem}_overlay.png")
        done.append(dataclasses.replace(r, files=(out / f"{stem}_mask.png", out / f"{stem}_overlay.png")))
    return Predictions(done)


def _detection(classes: list[str], results: Sequence[Detections], out: Path) -> Predictions:
    import torch
    # lazy: torch, PIL
    from PIL import Image

    from nptrain.data.datasets import read_image
    from nptrain.detection.draw import draw_detections
    stems: set[str] = set()
    table: dict[str, list[dict]] = {}
    done = []
    for r in results:
        stem = _unique_stem(r.image, stems)
        picture = Image.fromarray(read_image(Path(r.image)).permute(1, 2, 0).numpy())
        draw_detections(picture, torch.from_numpy(r.boxes), torch.from_numpy(r.scores),
                        torch.from_numpy(r.class_ids), classes).save(out / f"{stem}_boxes.png")
        table[r.image] = [{"class": name, "class_id": int(c), "score": round(float(s), 4),
                           "box_xyxy": [round(float(v), 2) for v in b]}
                          for b, s, c, name in zip(r.boxes, r.scores, r.class_ids, r.labels)]
        done.append(dataclasses.replace(r, files=(out / f"{stem}_boxes.png",)))
    text = json.dumps(table, indent=1)
    # one line per box: put the four numbers of every box_xyxy list back on a single line
    text = re.sub(r"\[\s+([-\d.,\s]+?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text)
    atomic_write_bytes(out / "detections.json", text.encode())
    return Predictions(done, [out / "detections.json"])
