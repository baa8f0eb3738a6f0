"""``nptrain predict RUN_DIR IMAGE... [--topk K]``: top-k classes with names and probabilities."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a run directory (runs/<task>/<name>)")
    parser.add_argument("images", nargs="+", help="image files")
    parser.add_argument("--topk", type=int, default=1, metavar="K", help="classes to show per image (default 1)")
    parser.add_argument("--weights", choices=["best", "last"], default="best")


def run(args: argparse.Namespace) -> int:
    import torch

    from nptrain.cli.cmd_evaluate import load_run
    from nptrain.data.datasets import read_image
    from nptrain.errors import UserError
    from nptrain.training.setup import inference_transform

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise UserError(f"run directory not found: {run_dir}")
    loaded, model, classes = load_run(run_dir, [], args.weights)
    if loaded.model.task != "classification":
        raise UserError(f"predict supports classification runs only (this run is {loaded.model.task})")
    if args.topk < 1:
        raise UserError("--topk must be at least 1")
    k = min(args.topk, len(classes))
    transform = inference_transform(loaded)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for path in args.images:
            image = read_image(Path(path)).float().div_(255.0)
            image, _ = transform(image, {}, gen)
            probs = model(image[None]).softmax(-1)[0]
            top = probs.topk(k)
            preds = "  ".join(f"{classes[i]} ({p:.3f})" for p, i in zip(top.values.tolist(), top.indices.tolist()))
            print(f"{path}: {preds}")
    return 0
