"""``nptrain data digits DIR``: write scikit-learn's bundled digits as class-per-folder PNGs."""
from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", choices=["digits"], help="built-in dataset to write")
    parser.add_argument("out", help="output folder (gets train/ and valid/ with one subfolder per class)")
    parser.add_argument("--valid-fraction", type=float, default=0.2, help="stratified validation share (default 0.2)")
    parser.add_argument("--seed", type=int, default=0, help="split seed (default 0: the same split everywhere)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nptrain.data.digits import write_digits
    from nptrain.errors import UserError

    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out} exists and is not empty; choose another folder or remove it")
    if not 0 < args.valid_fraction < 1:
        raise UserError("--valid-fraction must be between 0 and 1")
    counts = write_digits(out, args.valid_fraction, args.seed)
    print(f"wrote {counts['train']} train and {counts['valid']} valid images (8x8, 10 classes) to {out}/{{train,valid}}")
    return 0
