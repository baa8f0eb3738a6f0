"""Speed of our presets against the Hugging Face transformers implementation, in the same run.

For each preset: one training step (forward + backward + SGD step) and batch-1 inference in eager
mode, as an fx GraphModule and in onnxruntime; the reference (transformers, where it has the
architecture) is timed the same way in the same process. Prints medians and ratios
(reference time / our time: > 1 means we are faster).

    python bench/bench_models.py --presets resnet50 mobilevit_s --repeats 5
    python bench/bench_models.py --presets segformer_b0 --size 512 --batch 2

transformers is optional (`pip install transformers`); without it only our timings print.
Timings are noisy on shared 2-core machines: compare ratios, not absolute numbers.
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable, Optional

import torch
from torch import nn


def median_time(fn: Callable[[], None], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def interleaved(fns: dict[str, Callable[[], None]], repeats: int) -> dict[str, float]:
    """Median seconds per function, alternating them each round so drift (thermal, other load)
    hits every contender alike."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def train_step_fn(model: nn.Module, x: torch.Tensor, num_classes: int, task: str) -> Callable[[], None]:
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    model.train()

    def step() -> None:
        out = model(x)
        out = getattr(out, "logits", out)
        out = out["pred"] if isinstance(out, dict) else out
        if task == "segmentation":
            target = torch.zeros((x.shape[0],) + tuple(out.shape[-2:]), dtype=torch.long)
        else:
            target = torch.zeros(x.shape[0], dtype=torch.long)
        loss = nn.functional.cross_entropy(out, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def reference_model(preset: str, num_classes: int) -> Optional[nn.Module]:
    """The transformers counterpart of a preset, randomly initialised (no download)."""
    try:
        import transformers as tf
    except ImportError:
        return None
    if preset.startswith("resnet"):
        depth = int(preset[len("resnet"):])
        depths = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3]}[depth]
        basic = depth < 50
        cfg = tf.ResNetConfig(depths=depths, layer_type="basic" if basic else "bottleneck",
                              hidden_sizes=[64, 128, 256, 512] if basic else [256, 512, 1024, 2048], num_labels=num_classes)
        return tf.ResNetForImageClassification(cfg)
    if preset.startswith("mobilevit_"):
        sizes = {"mobilevit_s": ([144, 192, 240], [16, 32, 64, 96, 128, 160, 640]),
                 "mobilevit_xs": ([96, 120, 144], [16, 32, 48, 64, 80, 96, 384]),
                 "mobilevit_xxs": ([64, 80, 96], [16, 16, 24, 48, 64, 80, 320])}[preset]
        cfg = tf.MobileViTConfig(hidden_sizes=sizes[0], neck_hidden_sizes=sizes[1], num_labels=num_classes,
                                 expand_ratio=2.0 if preset == "mobilevit_xxs" else 4.0)
        return tf.MobileViTForImageClassification(cfg)
    if preset == "vit_tiny":
        cfg = tf.ViTConfig(hidden_size=192, num_hidden_layers=12, num_attention_heads=3, intermediate_size=768,
                           num_labels=num_classes)
        return tf.ViTForImageClassification(cfg)
    if preset.startswith("mit_b") or preset == "segformer_b0":
        cfg = tf.SegformerConfig(num_labels=num_classes)  # defaults are MiT-b0
        cls = tf.SegformerForSemanticSegmentation if preset == "segformer_b0" else tf.SegformerForImageClassification
        return cls(cfg)
    return None


class _Logits(nn.Module):
    """Make a transformers model return a plain tensor, for fair fx/onnx-free comparisons.

    Segmentation logits are upsampled to the input size, as ours are inside the model: transformers
    does the same in its own loss (and a deployed model must give full-size masks), so leaving it out
    would time the reference on 1/16 of the pixels."""

    def __init__(self, model: nn.Module, task: str) -> None:
        super().__init__()
        self.model = model
        self.upsample = task == "segmentation"

    def forward(self, x):
        logits = self.model(pixel_values=x).logits
        if self.upsample:
            logits = nn.functional.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return logits


def onnx_latency(model: nn.Module, x: torch.Tensor, repeats: int) -> Optional[float]:
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model.eval(), (x,), str(path), input_names=["x"], output_names=["y"], dynamo=False,
                              opset_version=17)
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feed = {"x": x.numpy()}
        return median_time(lambda: sess.run(None, feed), repeats)


def bench_preset(preset: str, size: int, batch: int, repeats: int, channels_last: bool) -> dict:
    import nptrain
    from nptrain.plugin_manager import default_plugins

    tasks = default_plugins().registry.preset_tasks(preset)
    task = "classification" if "classification" in tasks else tasks[0]
    num_classes = 150 if task == "segmentation" else 1000
    torch.manual_seed(0)
    ours = nptrain.create_model(preset, task=task, num_classes=num_classes)
    x = torch.randn(batch, 3, size, size)
    x1 = torch.randn(1, 3, size, size)
    row: dict = {"preset": preset, "task": task, "size": size, "batch": batch,
                 "params": sum(p.numel() for p in ours.parameters())}
    ref = reference_model(preset, num_classes)
    ref = _Logits(ref, task) if ref is not None else None
    steps = {"ours": train_step_fn(ours, x, num_classes, task)}
    if channels_last:  # the same weights in channels_last memory format, timed in the same rounds
        ours_cl = copy.deepcopy(ours).to(memory_format=torch.channels_last)
        steps["ours_cl"] = train_step_fn(ours_cl, x.contiguous(memory_format=torch.channels_last), num_classes, task)
    if ref is not None:
        row["ref_params"] = sum(p.numel() for p in ref.parameters())
        steps["ref"] = train_step_fn(ref, x, num_classes, task)
    train = interleaved(steps, repeats)
    ours.eval()
    traced = torch.fx.symbolic_trace(ours)
    infer = {"ours": lambda: ours(x1), "ours_fx": lambda: traced(x1)}
    if channels_last:
        ours_cl.eval()
        x1_cl = x1.contiguous(memory_format=torch.channels_last)
        infer["ours_cl"] = lambda: ours_cl(x1_cl)
    if ref is not None:
        ref.eval()
        infer["ref"] = lambda: ref(x1)
    with torch.inference_mode():
        latency = interleaved(infer, repeats)
    row["ours_train_step_s"], row["ours_eager_b1_s"], row["ours_fx_b1_s"] = train["ours"], latency["ours"], latency["ours_fx"]
    row["ours_onnxruntime_b1_s"] = onnx_latency(ours, x1, repeats)
    if channels_last:
        row["ours_cl_train_step_s"], row["ours_cl_eager_b1_s"] = train["ours_cl"], latency["ours_cl"]
    if ref is not None:
        row["ref_train_step_s"], row["ref_eager_b1_s"] = train["ref"], latency["ref"]
        row["train_speedup_vs_ref"] = row["ref_train_step_s"] / row["ours_train_step_s"]
        row["eager_b1_speedup_vs_ref"] = row["ref_eager_b1_s"] / row["ours_eager_b1_s"]
        if channels_last:
            row["cl_train_speedup_vs_ref"] = row["ref_train_step_s"] / row["ours_cl_train_step_s"]
            row["cl_eager_b1_speedup_vs_ref"] = row["ref_eager_b1_s"] / row["ours_cl_eager_b1_s"]
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["resnet50", "mobilevit_s", "vit_tiny"])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--channels-last", action="store_true",
                    help="also time our model in channels_last memory format (same rounds, extra rows)")
    ap.add_argument("--json", help="also write the rows to this file")
    args = ap.parse_args()
    torch.set_flush_denormal(True)
    rows = []
    for preset in args.presets:
        row = bench_preset(preset, args.size, args.batch, args.repeats, args.channels_last)
        rows.append(row)
        fmt = lambda v: "-" if v is None else f"{v * 1000:.1f} ms"  # noqa: E731
        print(f"{preset:<18} params {row['params']:>10,}  train {fmt(row['ours_train_step_s'])}  "
              f"eager {fmt(row['ours_eager_b1_s'])}  fx {fmt(row['ours_fx_b1_s'])}  ort {fmt(row['ours_onnxruntime_b1_s'])}")
        if "ours_cl_train_step_s" in row:
            ratio = row["ours_train_step_s"] / row["ours_cl_train_step_s"]
            print(f"{'  channels_last':<18} {'':>17}  train {fmt(row['ours_cl_train_step_s'])}  "
                  f"eager {fmt(row['ours_cl_eager_b1_s'])}  -> train {ratio:.2f}x contiguous"
                  + (f", ratio vs transformers {row['cl_train_speedup_vs_ref']:.2f}x" if "ref_train_step_s" in row else ""))
        if "ref_train_step_s" in row:
            print(f"{'  transformers':<18} params {row['ref_params']:>10,}  train {fmt(row['ref_train_step_s'])}  "
                  f"eager {fmt(row['ref_eager_b1_s'])}  -> train ratio {row['train_speedup_vs_ref']:.2f}x, "
                  f"inference ratio {row['eager_b1_speedup_vs_ref']:.2f}x (ref/ours)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
