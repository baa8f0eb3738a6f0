"""Prune presets at a ratio and measure them before and after with ``nptrain benchmark``'s code.

    python bench/compression_report.py --presets resnet50 vit_tiny --ratio 0.5 --size 224

Prints a Markdown table (params, FLOPs, batch-1 latency in eager PyTorch and onnxruntime, one
thread) for docs/compression.md. Weights are random: pruning and speed do not depend on them.
"""
from __future__ import annotations

import argparse
import warnings

import torch

import nptrain
from nptrain.benchmarking import measure
from nptrain.compression.prune import prune
from nptrain.plugin_manager import default_plugins


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", required=True)
    ap.add_argument("--ratio", type=float, default=0.5)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_flush_denormal(True)
    print("| preset | task | params | pruned params | GFLOPs | pruned GFLOPs | eager ms | pruned eager ms "
          "| onnxruntime ms | pruned onnxruntime ms |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for preset in args.presets:
        tasks = default_plugins().registry.preset_tasks(preset)
        task = "classification" if "classification" in tasks else tasks[0]
        torch.manual_seed(0)
        model = nptrain.create_model(preset, task=task, num_classes=1000 if task == "classification" else 19).eval()
        shape = (3, args.size, args.size)
        before = measure(model, shape, repeats=args.repeats)
        prune(model, torch.randn((2,) + shape), ratio=args.ratio)
        after = measure(model, shape, repeats=args.repeats)
        lat = lambda r, k: f"{r['latency_ms'][k]:.1f}" if r["latency_ms"][k] is not None else "n/a"  # noqa: E731
        print(f"| {preset} | {task} | {before['params'] / 1e6:.2f}M | {after['params'] / 1e6:.2f}M "
              f"| {before['flops'] / 1e9:.2f} | {after['flops'] / 1e9:.2f} | {lat(before, 'eager')} | {lat(after, 'eager')} "
              f"| {lat(before, 'onnxruntime')} | {lat(after, 'onnxruntime')} |", flush=True)


if __name__ == "__main__":
    main()
