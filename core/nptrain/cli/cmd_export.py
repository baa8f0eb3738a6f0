"""``nptrain export RUN_DIR|CONFIG|FX.pt [--format onnx|fx] [--weights best|last] [--opset N]
[--static-batch] [-o FILE] [--force]``: argument parsing and printing around :func:`nptrain.api.export.export`."""
from __future__ import annotations

import argparse

from nptrain.pickles import TRUST_HELP
from nptrain.api.export import export
from nptrain.pickles import command_pickles


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="run directory, config file, or fx GraphModule .pt")
    parser.add_argument("--format", choices=["onnx", "fx"], default="onnx")
    parser.add_argument("--weights", choices=["best", "last"], default="best",
                        help="a run's weights/best.safetensors (default) or weights/last.safetensors")
    parser.add_argument("--opset", type=int, default=None,
                        help="ONNX opset (default: the config's logging.onnx_opset, as run uses; checked in the "
                             "written file: 18 and newer through torch's dynamo exporter, older ones through "
                             "the TorchScript exporter)")
    batch = parser.add_mutually_exclusive_group()
    batch.add_argument("--dynamic-batch", dest="dynamic_batch", action="store_true", default=True,
                       help="a dynamic batch axis (the default, as run writes)")
    batch.add_argument("--static-batch", dest="dynamic_batch", action="store_false", help="a fixed batch of 1")
    parser.add_argument("--input-size", type=int, help="square input side (default: from the run)")
    parser.add_argument("-o", "--output", help="output file (default: RUN_DIR/exports/ for a run directory, "
                        "<logging.output_dir>/exports/<name>/ for a config or model file)")
    parser.add_argument("--force", action="store_true", help="allow overwriting the run's own files "
                        "(e.g. -o RUN_DIR/weights/model.onnx)")
    parser.add_argument("--trust-pickle", action="store_true", help=TRUST_HELP)


def run(args: argparse.Namespace) -> int:
    with command_pickles(args.trust_pickle):
        res = export(args.target, args.format, opset=args.opset, dynamic_batch=args.dynamic_batch,
                     weights=args.weights, output=args.output, force=args.force, input_size=args.input_size)
    if res.format == "fx":
        print(f"wrote {res.path}")
    else:
        print(f"wrote {res.path} (opset {res.opset}, {'dynamic' if res.dynamic_batch else 'static'} batch, "
              f"input 'images', output '{res.output_name}'); onnxruntime {res.check}")
    return 0
