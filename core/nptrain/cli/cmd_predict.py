"""``nptrain predict RUN_DIR IMAGE|FOLDER... [--topk K] [--score-thresh S] [-o OUT]``.

Everything goes to ``-o OUT`` (default ``RUN_DIR/predictions``). Classification prints the top-k
classes with probabilities and writes ``OUT/predictions.csv`` (one row per image) and
``OUT/predictions.png`` (the images labelled with their predicted class). Segmentation writes, per image,
``OUT/<stem>_mask.png`` (a palette PNG whose pixel values are the class ids, at the image's own size)
and ``OUT/<stem>_overlay.png`` (the image with the class colours blended in and a legend below it, in
the dataset's palette: ``data.pallete`` or the palette of its mask PNGs). Logits are resized
back to the original size before the argmax; inference pipelines that crop or pad are mapped back
by that resize only, so keep segmentation inference to ``resize`` + ``normalize`` for exact masks.
Detection writes ``OUT/<stem>_boxes.png`` (the image with boxes and ``class score`` captions sized to
the picture and kept inside it) and one
``OUT/detections.json`` with every image's boxes in its own pixels; the inverse of the inference
pipeline's resize/pad geometry maps boxes back, so letterboxing is undone exactly.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from nptrain.pickles import TRUST_HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a run directory (runs/<task>/<name>)")
    parser.add_argument("images", nargs="+", help="image files, or folders (the images directly inside, sorted)")
    parser.add_argument("--topk", type=int, default=1, metavar="K", help="classification: classes to show per image (default 1)")
    parser.add_argument("-o", "--output", default=None, metavar="OUT",
                        help="output folder (default RUN_DIR/predictions)")
    parser.add_argument("--weights", choices=["best", "last"], default="best")
    parser.add_argument("--score-thresh", type=float, default=0.3, metavar="S",
                        help="detection: lowest score drawn and listed (default 0.3; NMS and max detections come "
                             "from model.postprocessor)")
    parser.add_argument("--trust-pickle", action="store_true", help=TRUST_HELP)


LEGEND_ALL_UP_TO = 12  # more classes than this: the overlay legend lists only those predicted


def _predict_segmentation(loaded, model, classes: list[str], paths: list[str], out: Path) -> None:
    import numpy as np
    import torch
    import torch.nn.functional as F
    from PIL import Image

    from nptrain.data.datasets import read_image
    from nptrain.errors import UserError
    from nptrain.report.palette import dataset_palette
    from nptrain.report.prediction_pictures import add_legend, display_scale
    from nptrain.training.setup import inference_transform, main_output

    if len(classes) > 256:
        raise UserError(f"predict writes 8-bit palette masks; this run has {len(classes)} classes (at most 256)")
    transform = inference_transform(loaded)
    colors = dataset_palette(loaded, len(classes))  # data.pallete, else the mask files' own palette
    lut = np.array(colors, dtype=np.float32)
    flat_palette = [v for c in colors for v in c]
    out.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(0)
    stems: set[str] = set()
    with torch.no_grad():
        for path in paths:
            raw = read_image(Path(path))
            image, _ = transform(raw.float().div(255.0), {}, gen)
            logits = main_output(model(image[None]))
            if tuple(logits.shape[-2:]) != tuple(raw.shape[-2:]):
                logits = F.interpolate(logits, size=raw.shape[-2:], mode="bilinear", align_corners=False)
            pred = logits.argmax(1)[0].to(torch.uint8).numpy()
            stem = _unique_stem(path, stems)
            mask = Image.frombytes("P", (pred.shape[1], pred.shape[0]), np.ascontiguousarray(pred).tobytes())
            mask.putpalette(flat_palette)
            mask.save(out / f"{stem}_mask.png")
            rgb = raw.permute(1, 2, 0).numpy().astype(np.float32)
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
            overlay = add_legend(picture, legend)
            overlay.save(out / f"{stem}_overlay.png")
            share = "  ".join(f"{classes[i]} {c / pred.size:.1%}" for i, c in enumerate(counts) if c)
            print(f"{path}: {out / (stem + '_mask.png')}  ({share})")


def _unique_stem(path: str, stems: set[str]) -> str:
    stem = Path(path).stem
    if stem in stems:  # two inputs with one name must not overwrite each other
        stem = f"{stem}_{len(stems)}"
    stems.add(stem)
    return stem


def _predict_detection(loaded, model, classes: list[str], paths: list[str], out: Path, score_thresh: float) -> None:
    import json
    import re

    import torch
    from PIL import Image

    from nptrain.data.box_geometry import invert_boxes
    from nptrain.data.datasets import read_image
    from nptrain.detection.boxes import clip_boxes
    from nptrain.detection.draw import draw_detections
    from nptrain.detection.postprocess import postprocess
    from nptrain.errors import UserError
    from nptrain.detection.postprocess import postprocess_config
    from nptrain.training.setup import inference_transform, main_output
    from nptrain.training_io import atomic_write_bytes

    if not 0.0 <= score_thresh < 1.0:
        raise UserError(f"--score-thresh must be in [0, 1), got {score_thresh}")
    transform = inference_transform(loaded)
    post = postprocess_config(loaded, score_thresh=score_thresh)
    out.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(0)
    stems: set[str] = set()
    results: dict[str, list[dict]] = {}
    with torch.no_grad():
        for path in paths:
            raw = read_image(Path(path))
            h, w = raw.shape[-2:]
            # the identity, carried through the pipeline to learn how it moved the picture
            image, target = transform(raw.float().div(255.0), {"affine": torch.tensor([1.0, 1.0, 0.0, 0.0])}, gen)
            det = postprocess(main_output(model(image[None])), post, image_size=tuple(image.shape[-2:]))[0]
            boxes = clip_boxes(invert_boxes(det.boxes, target["affine"]), float(h), float(w))
            stem = _unique_stem(path, stems)
            picture = Image.fromarray(raw.permute(1, 2, 0).numpy())
            draw_detections(picture, boxes, det.scores, det.classes, classes).save(out / f"{stem}_boxes.png")
            results[path] = [{"class": classes[int(c)], "class_id": int(c), "score": round(float(s), 4),
                              "box_xyxy": [round(float(v), 2) for v in b]}
                             for b, s, c in zip(boxes, det.scores, det.classes)]
            found = ", ".join(f"{r['class']} {r['score']:.2f}" for r in results[path][:5])
            more = f" (+{len(det) - 5})" if len(det) > 5 else ""
            print(f"{path}: {len(det)} detection(s){': ' + found + more if len(det) else ''} "
                  f"-> {out / (stem + '_boxes.png')}")
    text = json.dumps(results, indent=1)
    # one line per box: put the four numbers of every box_xyxy list back on a single line
    text = re.sub(r"\[\s+([-\d.,\s]+?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text)
    atomic_write_bytes(out / "detections.json", text.encode())
    print(f"detections: {out / 'detections.json'}")


def _predict_classification(loaded, model, classes: list[str], paths: list[str], out: Path, topk: int) -> None:
    import csv
    import io

    import torch

    from nptrain.data.datasets import read_image
    from nptrain.errors import UserError
    from nptrain.report.prediction_pictures import MAX_GRID, plot_prediction_grid
    from nptrain.training.setup import inference_transform
    from nptrain.training_io import atomic_write_bytes

    if topk < 1:
        raise UserError("--topk must be at least 1")
    k = min(topk, len(classes))
    transform = inference_transform(loaded)
    gen = torch.Generator().manual_seed(0)
    header = ["image", "class", "class_id", "probability"]
    for rank in range(2, k + 1):
        header += [f"class_{rank}", f"probability_{rank}"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    shown, titles, captions = [], [], []
    with torch.no_grad():
        for path in paths:
            raw = read_image(Path(path))
            image, _ = transform(raw.float().div(255.0), {}, gen)
            probs = model(image[None]).softmax(-1)[0]
            top = probs.topk(k)
            pairs = list(zip(top.indices.tolist(), top.values.tolist()))
            row: list = [path, classes[pairs[0][0]], pairs[0][0], f"{pairs[0][1]:.4f}"]
            for i, p in pairs[1:]:
                row += [classes[i], f"{p:.4f}"]
            writer.writerow(row)
            print(f"{path}: " + "  ".join(f"{classes[i]} ({p:.3f})" for i, p in pairs))
            if len(shown) < MAX_GRID:
                shown.append(raw.permute(1, 2, 0).numpy())
                titles.append(Path(path).name)
                captions.append(f"{classes[pairs[0][0]]} ({pairs[0][1]:.2f})")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "predictions.csv", buf.getvalue().encode())
    plot_prediction_grid(out / "predictions.png", shown, titles, captions)
    print(f"predictions: {out / 'predictions.csv'}, {out / 'predictions.png'}")


def expand_images(items: list[str]) -> list[str]:
    """Image paths in the order given; a folder stands for the images directly inside it, sorted."""
    from nptrain.data.datasets import IMAGE_SUFFIXES, list_images
    from nptrain.errors import UserError

    out: list[str] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = [str(p) for p in list_images(path)]
            if not found:
                raise UserError(f"{path}: folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
            out.extend(found)
        elif not path.is_file():
            raise UserError(f"image not found: {path}")
        else:
            out.append(item)
    return out


def run(args: argparse.Namespace) -> int:
    from nptrain.pickles import command_pickles

    with command_pickles(args.trust_pickle):
        return _predict(args)


def _predict(args: argparse.Namespace) -> int:
    from nptrain.cli.cmd_evaluate import load_run
    from nptrain.errors import UserError

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise UserError(f"run directory not found: {run_dir}")
    args.images = expand_images(args.images)
    loaded, model, classes = load_run(run_dir, [], args.weights)
    out = Path(args.output) if args.output else run_dir / "predictions"
    # the task's predict writer (TaskRecord.predict); a task without one says so
    loaded.task_spec.part("predict")(loaded, model, classes, args.images, out, args)
    return 0


# the built-in tasks' predict writers: (loaded, model, classes, image paths, out dir, parsed args)
def write_classification(loaded, model, classes: list[str], paths: list[str], out: Path, args: argparse.Namespace) -> None:
    _predict_classification(loaded, model, classes, paths, out, args.topk)


def write_segmentation(loaded, model, classes: list[str], paths: list[str], out: Path, args: argparse.Namespace) -> None:
    _predict_segmentation(loaded, model, classes, paths, out)


def write_detection(loaded, model, classes: list[str], paths: list[str], out: Path, args: argparse.Namespace) -> None:
    _predict_detection(loaded, model, classes, paths, out, args.score_thresh)
