"""``nptrain quantize RUN_DIR|CONFIG [--calib N] [--method minmax|entropy|percentile]
[--per-channel|--per-tensor] [--reduce-range|--no-reduce-range] [--format onnx|openvino]
[--keep-float OPS] [-o DIR]``: post-training static int8 into ``RUN_DIR/quantized-<method>/``
(see docs/deployment.md)."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="run directory or config file")
    parser.add_argument("--calib", type=int, default=128, help="calibration images from the training split (default 128)")
    parser.add_argument("--method", choices=["minmax", "entropy", "percentile"], default="minmax",
                        help="activation range calibration (onnxruntime)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--per-channel", dest="per_channel", action="store_true", default=True,
                       help="one weight scale per output channel (default)")
    group.add_argument("--per-tensor", dest="per_channel", action="store_false", help="one weight scale per tensor")
    parser.add_argument("--format", dest="fmt", choices=["onnx", "openvino"], default="onnx",
                        help="onnx: int8 QDQ ONNX for onnxruntime; openvino: IR fp32/fp16 and int8 (NNCF)")
    parser.add_argument("--keep-float", default="", metavar="OPS",
                        help="comma-separated ONNX op types to leave in float (e.g. Softmax,LayerNormalization)")
    rr = parser.add_mutually_exclusive_group()
    rr.add_argument("--reduce-range", dest="reduce_range", action="store_const", const=True, default=None,
                    help="force 7-bit weights (default: auto, on when the CPU lacks VNNI/AMX int8, where "
                         "onnxruntime's 8-bit kernels saturate)")
    rr.add_argument("--no-reduce-range", dest="reduce_range", action="store_const", const=False,
                    help="force full 8-bit weights (for a CPU with VNNI/AMX you deploy to)")
    parser.add_argument("--seed", type=int, help="calibration sample seed (default: the run's environment.seed)")
    parser.add_argument("-o", "--output", help="output folder (default: RUN_DIR/quantized-<method>)")


def run(args: argparse.Namespace) -> int:
    # lazy: layer (README map: cli/ may not import deploy)
    from nptrain.deploy.quantize import QuantizeOptions, quantize

    opts = QuantizeOptions(calib=args.calib, method=args.method, per_channel=args.per_channel, fmt=args.fmt,
                           keep_float=tuple(op.strip() for op in args.keep_float.split(",") if op.strip()),
                           reduce_range=args.reduce_range, seed=args.seed,
                           output=Path(args.output) if args.output else None)
    quantize(args.target, opts)
    return 0
