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

The work is :func:`nptrain.api.predict.predict` (``nptrain.predict`` in Python); this module parses and prints.
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


def run(args: argparse.Namespace) -> int:
    # lazy: numpy
    from nptrain.api.predict import describe, predict

    out = Path(args.output) if args.output else Path(args.run_dir) / "predictions"
    results = predict(args.run_dir, args.images, weights=args.weights, topk=args.topk,
                      score_thresh=args.score_thresh, output=out, trust_pickle=args.trust_pickle)
    for result in results:
        print(describe(result))
    if results.files:
        label = "detections" if results.files[0].name == "detections.json" else "predictions"
        print(f"{label}: " + ", ".join(str(f) for f in results.files))
    return 0
