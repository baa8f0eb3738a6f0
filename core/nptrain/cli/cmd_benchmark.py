"""``nptrain benchmark CONFIG|RUN_DIR|FILE``: params, FLOPs, peak memory and batch-1 latency in
eager, fx and onnxruntime, as a table, and as JSON in the run directory or ``-o FILE.json``
(never next to a config or model file, which may sit in a source tree); for a run directory also one
row per deployable artifact (onnxruntime fp32/int8, OpenVINO) with size, latency median/p90 and
validation metric."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from nptrain.pickles import TRUST_HELP
from nptrain.pickles import command_pickles
from nptrain.training_io import atomic_write_bytes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="run directory, config file, or fx GraphModule .pt")
    parser.add_argument("--input-size", type=int, help="square input side (default: from the run)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch/onnxruntime threads (1 = steadier numbers)")
    parser.add_argument("--evaluate", action="store_true",
                        help="evaluate artifacts whose validation metric is not cached yet (per-format table)")
    parser.add_argument("-o", "--json", dest="json_out", metavar="FILE.json",
                        help="write the results here (default: RUN_DIR/benchmark.json for a run directory; "
                             "for a config or model file only when given: nothing is written next to them)")
    parser.add_argument("--trust-pickle", action="store_true", help=TRUST_HELP)


def run(args: argparse.Namespace) -> int:
    with command_pickles(args.trust_pickle):
        return _benchmark(args)


def _benchmark(args: argparse.Namespace) -> int:
    # lazy: torch
    from nptrain.benchmarking import measure
    from nptrain.compression.source import load_model_source

    src = load_model_source(args.target, input_size=args.input_size)
    result = measure(src.model, src.input_size, repeats=args.repeats, threads=args.threads)
    result["target"] = str(args.target)
    rows = [("parameters", f"{result['params']:,}"), ("FLOPs", f"{result['flops']:,}"),
            ("peak memory (MiB)", f"{result['peak_memory_mib']:.1f}")]
    rows += [(f"latency {k} (ms)", f"{v:.2f}" if v is not None else "n/a") for k, v in result["latency_ms"].items()]
    width = max(len(r[0]) for r in rows)
    print(f"{args.target}  input {list(src.input_size)}, batch 1, {args.threads} thread(s)")
    for label, value in rows:
        print(f"  {label:<{width}}  {value:>14}")
    if src.run_dir is not None:  # every deployable artifact of the run: eager / onnxruntime / OpenVINO
        # lazy: numpy; layer (README map: cli/ may not import deploy)
        from nptrain.deploy.cpu import describe_cpu
        from nptrain.deploy.format_bench import format_rows, render_rows

        result["formats"] = format_rows(src.model, src.run_dir, tuple(src.input_size), repeats=args.repeats,
                                        threads=args.threads, evaluate_missing=args.evaluate)
        result["cpu"] = describe_cpu()
        print(render_rows(result["formats"], args.threads, result["cpu"]))
    out = Path(args.json_out) if args.json_out else (src.run_dir / "benchmark.json" if src.run_dir else None)
    if out is None:
        print("no JSON written (a config or model file is not an output folder): add -o FILE.json to keep the numbers")
        return 0

    atomic_write_bytes(out, (json.dumps(result, indent=2) + "\n").encode())
    print(f"wrote {out}")
    return 0
