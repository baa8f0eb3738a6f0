"""``nptrain data NAME DIR``: write a small built-in dataset.

``digits`` (classification: scikit-learn's 8×8 digits, one folder per class), ``shapes``
(segmentation: synthetic 64×64 shapes with index masks), ``shapes-det`` (detection: synthetic
64-128 px shapes with YOLO txt and COCO json labels) and ``nuclei`` (real fluorescence-microscopy
nuclei tiles from the image the stardist package ships: masks, or boxes with ``--task detection``).
"""
from __future__ import annotations

import argparse
from typing import Optional
from nptrain.errors import UserError
from pathlib import Path

DATASETS = ("digits", "shapes", "shapes-det", "nuclei")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", choices=DATASETS, help="built-in dataset to write")
    parser.add_argument("out", help="output folder (gets train/ and valid/)")
    parser.add_argument("--valid-fraction", type=float, default=0.2,
                        help="digits: stratified validation share (default 0.2)")
    parser.add_argument("--seed", type=int, default=0, help="split/generation seed (default 0: the same files everywhere)")
    parser.add_argument("--count", type=int, default=None, metavar="N",
                        help="shapes / shapes-det: training images (default 192 / 320; valid gets a quarter as many)")
    parser.add_argument("--task", choices=("segmentation", "detection"), default="segmentation",
                        help="nuclei: masks (segmentation, default) or one box per nucleus (detection)")


def _split_sizes(count: Optional[int], default: int) -> tuple[int, int]:
    """``--count`` training images (``default`` when not given) and a quarter as many for validation."""
    n = default if count is None else count
    if n < 4:
        raise UserError("--count must be at least 4")
    return n, max(1, n // 4)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out} exists and is not empty; choose another folder or remove it")
    if args.task == "detection" and args.dataset != "nuclei":
        raise UserError(f"--task applies to nuclei only; {args.dataset} has one task"
                        + (" (for synthetic detection data use shapes-det)" if args.dataset == "shapes" else ""))
    if args.dataset == "digits":
        # lazy: numpy
        from nptrain.data.digits import write_digits

        if not 0 < args.valid_fraction < 1:
            raise UserError("--valid-fraction must be between 0 and 1")
        counts = write_digits(out, args.valid_fraction, args.seed)
        print(f"wrote {counts['train']} train and {counts['valid']} valid images (8x8, 10 classes) "
              f"to {out}/{{train,valid}}")
    elif args.dataset == "shapes":
        # lazy: numpy
        from nptrain.data.shapes import SHAPE_CLASSES, write_shapes

        n_train, n_valid = _split_sizes(args.count, default=192)
        counts = write_shapes(out, n_train=n_train, n_valid=n_valid, seed=args.seed)
        print(f"wrote {counts['train']} train and {counts['valid']} valid 64x64 images with masks "
              f"(classes {', '.join(SHAPE_CLASSES)}) to {out}/{{train,valid}}/{{images,masks}}")
    elif args.dataset == "shapes-det":
        # lazy: numpy
        from nptrain.data.shapes_det import DET_SHAPE_CLASSES, write_shapes_det

        n_train, n_valid = _split_sizes(args.count, default=320)
        counts = write_shapes_det(out, n_train=n_train, n_valid=n_valid, seed=args.seed)
        print(f"wrote {counts['train']} train and {counts['valid']} valid 64-128 px images with YOLO labels and "
              f"coco.json (classes {', '.join(DET_SHAPE_CLASSES)}) to {out}/{{train,valid}}/{{images,labels}}")
    elif args.task == "detection":
        # lazy: numpy
        from nptrain.data.nuclei import NUCLEI_DET_CLASSES, write_nuclei_detection

        counts = write_nuclei_detection(out)
        print(f"wrote {counts['train']} train and {counts['valid']} valid 128x128 tiles with "
              f"{counts['boxes_train']} / {counts['boxes_valid']} boxes (class {NUCLEI_DET_CLASSES[0]}) "
              f"to {out}/{{train,valid}}/{{images,labels}}")
    else:
        # lazy: numpy
        from nptrain.data.nuclei import NUCLEI_CLASSES, write_nuclei

        counts = write_nuclei(out)
        print(f"wrote {counts['train']} train and {counts['valid']} valid 64x64 tiles with masks "
              f"(classes {', '.join(NUCLEI_CLASSES)}) to {out}/{{train,valid}}/{{images,masks}}")
    return 0
