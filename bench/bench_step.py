"""Bare training step per preset under each speed lever, interleaved in one process.

    python bench/bench_step.py --presets resnet50 pidnet_s --variants fp32 channels_last bf16 --steps 6

For each preset it builds the model and loss as ``nptrain run`` would (``model.name: PRESET``, the
preset's default losses), one copy per variant from the same initial weights, and times single
training steps (forward, loss, backward, AdamW) on a fixed random batch, cycling through the
variants step by step so that a burst of load from other processes hits every variant alike.
Variants: ``fp32`` (contiguous), ``channels_last``, ``bf16`` (CPU autocast, fp32 master weights),
``bf16_cl`` (both), ``compile`` (``torch.compile`` of the contiguous model; its first step, the
compile, is reported separately as ``compile_s``), ``literal`` (the contiguous fp32 step with every
rearranged module, e.g. SegFormer's decode head, computing layer by layer: ``nptrain.layers.literal_forward``); ``NAME@N`` runs a variant on N threads
(``fp32@1 fp32@2`` compares thread counts). Prints one JSON line per preset: the median step
time per variant, its ratio to ``fp32``, and ``foreign_cpu_frac`` (other processes' share of the
machine during the timed steps; the figures are only comparable when it is low).
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from nptrain.layers import literal_forward

# preset -> (task, batch, input side): the anchor harness's settings (docs/benchmarks.md)
SETTINGS = {
    "simple_cnn": ("classification", 32, 32), "resnet50": ("classification", 8, 224),
    "efficientformer_l1": ("classification", 8, 224), "mobilevit_s": ("classification", 8, 224),
    "vit_tiny": ("classification", 8, 224), "resnet18": ("classification", 8, 224),
    "segformer_b0": ("segmentation", 2, 512), "pidnet_s": ("segmentation", 2, 512),
    "mobilenet_v3_small": ("classification", 8, 224), "mobilenetv4_conv_small": ("classification", 8, 224),
    "mobilenetv4_hybrid_medium": ("classification", 8, 224), "mixnet_s": ("classification", 8, 224),
}
VARIANTS = ("fp32", "channels_last", "bf16", "bf16_cl", "compile", "literal")


def build(preset: str, task: str, num_classes: int):
    from nptrain.config.loader import load_config
    from nptrain.modeling.builder import build_loss, build_model

    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "c.yaml"
        cfg.write_text(f"model: {{name: {preset}, task: {task}}}\n")
        loaded = load_config([str(cfg)], [], check_files=False)
    return build_model(loaded.resolved, num_classes, name=preset), build_loss(loaded.resolved)


def make_step(model, criterion, variant: str, images, targets):
    variant, _, nthreads = variant.partition("@")  # "fp32@1": the fp32 step on one thread
    cl = variant in ("channels_last", "bf16_cl")
    bf16 = variant in ("bf16", "bf16_cl")
    if cl:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    default_threads = torch.get_num_threads()
    forward = torch.compile(model) if variant == "compile" else model

    def step() -> float:
        if nthreads:
            torch.set_num_threads(int(nthreads))
        t0 = time.perf_counter()
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        order = literal_forward(model) if variant == "literal" else contextlib.nullcontext()
        with ctx, order:
            loss = criterion(forward(images), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        elapsed = time.perf_counter() - t0
        torch.set_num_threads(default_threads)
        return elapsed

    return step


def bench(preset: str, variants: list[str], steps: int, threads: int) -> dict:
    from nptrain.training.cpu_load import CpuWindow

    task, batch, side = SETTINGS[preset]
    torch.manual_seed(0)
    base, criterion = build(preset, task, 10)
    images = torch.randn(batch, 3, side, side)
    targets = {"labels": torch.randint(0, 10, (batch,))} if task == "classification" else \
        {"masks": torch.randint(0, 10, (batch, side, side))}
    steppers = {v: make_step(copy.deepcopy(base), criterion, v, images, targets) for v in variants}
    first = {v: steppers[v]() for v in variants}  # warm-up (and the compile) outside the timing
    times: dict[str, list[float]] = {v: [] for v in variants}
    window = CpuWindow.start()
    for _ in range(steps):
        for v in variants:
            times[v].append(steppers[v]())
    load = window.stop()
    med = {v: statistics.median(t) for v, t in times.items()}
    out = {"preset": preset, "batch": batch, "input": side, "threads": threads, "steps": steps,
           "median_step_s": {v: round(s, 4) for v, s in med.items()},
           "speedup_vs_fp32": {v: round(med["fp32"] / s, 3) for v, s in med.items()} if "fp32" in med else {},
           "foreign_cpu_frac": None if load["foreign_cpu_frac"] is None else round(load["foreign_cpu_frac"], 3)}
    if "compile" in first:
        out["compile_s"] = round(first["compile"], 1)
    base_name = variants[0]
    out["speedup_vs_first"] = {v: round(med[base_name] / s, 3) for v, s in med.items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--presets", nargs="+", default=["resnet50", "efficientformer_l1", "segformer_b0", "pidnet_s"],
                    choices=sorted(SETTINGS))
    ap.add_argument("--variants", nargs="+", default=["fp32", "channels_last"], help=f"{', '.join(VARIANTS)}; NAME@N runs it on N threads")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_flush_denormal(True)
    for preset in a.presets:
        print(json.dumps(bench(preset, a.variants, a.steps, a.threads)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
