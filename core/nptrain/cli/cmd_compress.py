"""``nptrain compress RUN_DIR|CONFIG --ratio R [--method l1|l2|bn_scale|taylor] [--round-to 8]``.

Writes ``model_fx.pt`` (a torch.fx GraphModule, the compressor interchange format),
``model.safetensors`` (weights-only: rebuilt from the config without unpickling),
``compression.yaml`` and ``retrain.yaml`` (the run's config with ``model.fx_model_checkpoint``
pointing at the pruned weights and, for a run directory, ``training.distillation`` with the run as
teacher) into the output folder. The work is
:func:`nptrain.api.compress.compress` (``nptrain.compress`` in Python); this module parses and prints.
"""
from __future__ import annotations

import argparse

from nptrain.pickles import TRUST_HELP
from nptrain.api.compress import compress


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="run directory or config file")
    parser.add_argument("--ratio", type=float, required=True, help="fraction of channels to remove (0-1)")
    parser.add_argument("--method", default="l1", choices=["l1", "l2", "bn_scale", "taylor"])
    parser.add_argument("--round-to", type=int, default=8, help="keep channel counts multiples of this (0: off)")
    parser.add_argument("--input-size", type=int, help="square input side for tracing (default: from the run)")
    parser.add_argument("-o", "--output", help="output folder (default: RUN_DIR/compressed-<method>-<ratio>)")
    parser.add_argument("--trust-pickle", action="store_true", help=TRUST_HELP)


def run(args: argparse.Namespace) -> int:
    res = compress(args.target, args.ratio, method=args.method, round_to=args.round_to, input_size=args.input_size,
                   output=args.output, trust_pickle=args.trust_pickle)
    print(f"pruned {res.params_before:,} -> {res.params_after:,} parameters ({res.kept_fraction:.1%} kept, "
          f"{res.method}, ratio {res.ratio:g}); fx trace max abs diff {res.max_abs_diff:.1e}")
    print(f"wrote {res.dir}/model_fx.pt, model.safetensors, compression.yaml, retrain.yaml")
    print(f"retrain: nptrain run {res.retrain_config}"
          + (f"  # distilled from {res.teacher}; training.distillation=null to retrain without" if res.teacher else ""))
    return 0
