"""``nptrain export RUN_DIR|CONFIG|FX.pt --format onnx|fx [--opset N] [--dynamic-batch]``."""
from __future__ import annotations

import argparse
from pathlib import Path

from nptrain.pickles import TRUST_HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="run directory, config file, or fx GraphModule .pt")
    parser.add_argument("--format", choices=["onnx", "fx"], default="onnx")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset (checked in the written file)")
    parser.add_argument("--dynamic-batch", action="store_true", help="make the batch axis dynamic")
    parser.add_argument("--input-size", type=int, help="square input side (default: from the run)")
    parser.add_argument("-o", "--output", help="output file (default: RUN_DIR/weights/ for a run directory, "
                        "<logging.output_dir>/exports/<name>/ for a config or model file)")
    parser.add_argument("--trust-pickle", action="store_true", help=TRUST_HELP)


def run(args: argparse.Namespace) -> int:
    from nptrain.pickles import command_pickles

    with command_pickles(args.trust_pickle):
        return _export(args)


def _export(args: argparse.Namespace) -> int:
    from nptrain.compression.source import example_input, load_model_source
    from nptrain.errors import UserError
    from nptrain.export_tools import describe_check, export_onnx_checked

    src = load_model_source(args.target, input_size=args.input_size)
    # a config or model file may sit in a source tree: without -o its exports go under the
    # configured output folder (runs/exports/<name>), never next to it
    output_dir = src.loaded.run.logging.output_dir if src.loaded is not None else "runs"
    folder = src.run_dir / "weights" if src.run_dir else Path(output_dir) / "exports" / src.name
    folder.mkdir(parents=True, exist_ok=True)
    if args.format == "fx":
        from nptrain.training.export import export_fx

        out = Path(args.output or folder / "model_fx.pt")
        res = export_fx(src.model, out)
        if not res["ok"]:
            raise UserError(f"fx export failed: {res['error']}")
        print(f"wrote {out}")
        return 0
    out = Path(args.output or folder / f"model_opset{args.opset}.onnx")
    res = export_onnx_checked(src.model, example_input(src, 2 if args.dynamic_batch else 1), out,
                              opset=args.opset, dynamic_batch=args.dynamic_batch)
    print(f"wrote {out} (opset {res['opset']}, {'dynamic' if args.dynamic_batch else 'static'} batch); "
          f"onnxruntime {describe_check(res)}")
    return 0
