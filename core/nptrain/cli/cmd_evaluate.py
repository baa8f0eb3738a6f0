"""``nptrain evaluate CONFIG...|RUN_DIR [key=value...]``: metrics on the validation split.

A run directory uses its ``config.yaml``, ``classes.json`` and ``weights/best.safetensors``
(``--weights last`` for the last epoch). A config uses ``model.checkpoint`` or
``model.fx_model_checkpoint`` (a config without either evaluates random weights, with a warning).
``--artifact PATH`` runs a run directory's validation split through an exported file instead
(fp32/int8 ONNX in onnxruntime, OpenVINO IR), with the same metrics. The work is
:func:`nptrain.api.evaluate.evaluate` (``nptrain.evaluate`` in Python); this module parses and prints.
"""
from __future__ import annotations

import argparse
import json

from nptrain.pickles import TRUST_HELP
from nptrain.api.evaluate import evaluate
from nptrain.cli.cmd_config import split_items


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("items", nargs="+", metavar="CONFIG|RUN_DIR|key=value")
    parser.add_argument("--weights", choices=["best", "last"], default="best", help="which weights of a run dir")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    parser.add_argument("--artifact", help="evaluate this exported file instead (.onnx fp32/int8, OpenVINO .xml)")
    parser.add_argument("--trust-pickle", action="store_true", help=TRUST_HELP)


def run(args: argparse.Namespace) -> int:
    paths, overrides = split_items(args.items)
    res = evaluate(paths, args.artifact, weights=args.weights, overrides=overrides, trust_pickle=args.trust_pickle)
    if args.json:
        extra = {"artifact": str(res.artifact), "runtime": res.runtime} if res.artifact is not None else {}
        print(json.dumps({"samples": res.samples, **extra, **res.metrics, **res.details}))
        return 0
    where = f" through {res.artifact} ({res.runtime})" if res.artifact is not None else ""
    print(f"{res.samples} validation images{where}: " + "  ".join(f"{k} {v:.4f}" for k, v in res.metrics.items()))
    if res.table:
        print(res.table)
    return 0
