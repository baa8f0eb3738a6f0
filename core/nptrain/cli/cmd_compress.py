"""``nptrain compress RUN_DIR|CONFIG --ratio R [--method l1|l2|bn_scale|taylor] [--round-to 8]``.

Writes ``model_fx.pt`` (a torch.fx GraphModule, the compressor interchange format),
``model.safetensors`` (weights-only: rebuilt from the config without unpickling),
``compression.yaml`` and ``retrain.yaml`` (the run's config with ``model.fx_model_checkpoint``
pointing at the pruned weights and, for a run directory, ``training.distillation`` with the run as
teacher) into the output folder.
"""
from __future__ import annotations

import argparse
import io
from pathlib import Path

from nptrain.pickles import TRUST_HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help="run directory or config file")
    parser.add_argument("--ratio", type=float, required=True, help="fraction of channels to remove (0-1)")
    parser.add_argument("--method", default="l1", choices=["l1", "l2", "bn_scale", "taylor"])
    parser.add_argument("--round-to", type=int, default=8, help="keep channel counts multiples of this (0: off)")
    parser.add_argument("--input-size", type=int, help="square input side for tracing (default: from the run)")
    parser.add_argument("-o", "--output", help="output folder (default: RUN_DIR/compressed-<method>-<ratio>)")
    parser.add_argument("--trust-pickle", action="store_true", help=TRUST_HELP)


def run(args: argparse.Namespace) -> int:
    from nptrain.pickles import command_pickles

    with command_pickles(args.trust_pickle):
        return _compress(args)


def _compress(args: argparse.Namespace) -> int:
    import torch
    from ruamel.yaml import YAML
    from safetensors.torch import save

    from nptrain.compression.prune import prune
    from nptrain.compression.source import example_input, load_model_source
    from nptrain.training_io import atomic_write_bytes

    src = load_model_source(args.target, input_size=args.input_size)
    if src.loaded is None:
        from nptrain.errors import UserError

        raise UserError("compress needs a run directory or config (the architecture rebuilds the pruned weights)")
    base = src.run_dir or Path("runs") / "compressed" / src.name
    out = Path(args.output) if args.output else base / f"compressed-{args.method}-{args.ratio:g}"
    out.mkdir(parents=True, exist_ok=True)
    x = example_input(src, 2)
    from nptrain.fx_explain import trace_explained

    trace_explained(src.model, what=f"compress {src.name}")  # a plugin's untraceable forward, explained
    report = prune(src.model, x, ratio=args.ratio, method=args.method, round_to=args.round_to or None)
    model = src.model.eval()
    traced = torch.fx.symbolic_trace(model)
    with torch.no_grad():
        diff = float((traced(x) - model(x)).abs().max())
    buf = io.BytesIO()
    torch.save(traced, buf)
    atomic_write_bytes(out / "model_fx.pt", buf.getvalue())
    atomic_write_bytes(out / "model.safetensors", save({k: v.contiguous() for k, v in model.state_dict().items()},
                                                        metadata={"nptrain_pruned": "1"}))
    yaml = YAML()
    yaml.default_flow_style = False
    info = {"source": str(args.target), "method": args.method, "ratio": args.ratio, "round_to": args.round_to,
            "params_before": report.params_before, "params_after": report.params_after,
            "kept_fraction": round(report.kept_fraction, 4), "kept_whole": report.ignored,
            "input_shape": list(src.input_size)}
    text = io.StringIO()
    yaml.dump(info, text)
    atomic_write_bytes(out / "compression.yaml", text.getvalue().encode())
    config = src.loaded.unstructure()
    config["model"]["checkpoint"] = None
    config["model"]["fx_model_checkpoint"] = str((out / "model.safetensors").resolve())
    if src.run_dir is not None:  # the unpruned run teaches its pruned copy
        from nptrain.compression.retrain import with_teacher

        config = with_teacher(config, src.run_dir)
    text = io.StringIO()
    yaml.dump(config, text)
    atomic_write_bytes(out / "retrain.yaml", text.getvalue().encode())
    print(f"pruned {report.params_before:,} -> {report.params_after:,} parameters ({report.kept_fraction:.1%} kept, "
          f"{args.method}, ratio {args.ratio:g}); fx trace max abs diff {diff:.1e}")
    print(f"wrote {out}/model_fx.pt, model.safetensors, compression.yaml, retrain.yaml")
    print(f"retrain: nptrain run {out}/retrain.yaml"
          + (f"  # distilled from {src.run_dir}; training.distillation=null to retrain without" if src.run_dir else ""))
    return 0
