"""Is data loading the bottleneck? Training throughput fed by nptrain's loader against the same steps fed
from tensors already in memory, in the same run.

    python bench/bench_loader.py --preset resnet18 --workers 0 2 --steps 12

Writes a folder of 320x320 JPEG images (deterministic smooth noise, two classes), builds the train split
exactly as ``nptrain run`` does (class-per-folder dataset, random resized crop to 224, flip, colour
jitter, normalize; ``make_loader`` with the requested workers), and times ``--steps`` training steps
(forward, cross-entropy, backward, SGD) of the preset: once pulling batches from the loader, once
reusing batches already decoded. Prints images/s for both and their ratio (loader-fed over
memory-fed: 1.00 means loading costs nothing; the loader alone is timed too).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

CONFIG = """
data:
  path:
    train: {{image: {root}/train}}
    valid: {{image: {root}/valid}}
augmentation:
  train:
    - {{name: randomresizedcrop, size: 224}}
    - {{name: randomhorizontalflip}}
    - {{name: colorjitter, brightness: 0.2, contrast: 0.2, saturation: 0.2}}
    - {{name: normalize, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}}
  inference:
    - {{name: resize, size: 224}}
model:
  name: {preset}
environment:
  num_workers: {workers}
  batch_size: {batch}
"""


def write_images(root: Path, per_class: int) -> None:
    """Smooth random RGB fields saved as JPEG: decoding costs what a photo of that size costs."""
    from PIL import Image

    gen = torch.Generator().manual_seed(0)
    for split, count in (("train", per_class), ("valid", 2)):
        for cls in ("a", "b"):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(count):
                small = torch.rand(3, 20, 20, generator=gen)
                big = nn.functional.interpolate(small[None], size=(320, 320), mode="bicubic", align_corners=False)[0]
                pixels = (big.clamp(0, 1) * 255).byte().permute(1, 2, 0).numpy()
                Image.fromarray(pixels).save(folder / f"{i:04d}.jpg", quality=90)


def timed_steps(model: nn.Module, batches, steps: int) -> tuple[float, int]:
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    model.train()
    seen, t0, started = 0, 0.0, False
    for i, (images, labels) in enumerate(batches):
        if i == 1:  # the first step (and the loader's first batch, worker start-up) is warm-up
            t0, started = time.perf_counter(), True
        loss = nn.functional.cross_entropy(model(images), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        seen += images.shape[0] if started else 0
        if i == steps:
            break
    return time.perf_counter() - t0, seen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="resnet18")
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=12)
    args = ap.parse_args()
    torch.set_flush_denormal(True)

    import nptrain
    from nptrain.config.loader import load_config
    from nptrain.data.loader import iterate, make_loader
    from nptrain.training.setup import build_data

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_images(root / "data", per_class=(args.steps + 2) * args.batch // 2 + 1)
        for workers in args.workers:
            cfg = root / f"w{workers}.yaml"
            cfg.write_text(CONFIG.format(root=root / "data", preset=args.preset, workers=workers, batch=args.batch))
            data = build_data(load_config([str(cfg)]))
            loader = make_loader(data.train, batch_size=args.batch, shuffle=True, seed=0, num_workers=workers)

            def from_loader():
                for images, target in iterate(loader):
                    yield images, target["label"]

            t0 = time.perf_counter()
            loaded = [b for _, b in zip(range(args.steps + 1), from_loader())]
            alone = (time.perf_counter() - t0) / max(len(loaded), 1)
            torch.manual_seed(0)
            model = nptrain.create_model(args.preset, num_classes=len(data.classes))
            fed_s, fed_n = timed_steps(model, from_loader(), args.steps)
            mem_s, mem_n = timed_steps(model, iter(loaded * 2), args.steps)
            fed, mem = fed_n / fed_s, mem_n / mem_s
            print(f"{args.preset} workers={workers}: loader alone {args.batch / alone:7.1f} img/s | training fed by the "
                  f"loader {fed:6.1f} img/s, from memory {mem:6.1f} img/s -> ratio {fed / mem:.2f}")


if __name__ == "__main__":
    main()
