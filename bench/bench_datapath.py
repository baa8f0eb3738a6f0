"""What the uint8 data path buys: one pass over a cached train split, in-process (no workers), for the
per-sample pipeline fed float images (how every transform ran before) and fed the cached uint8 images,
interleaved round by round in one process so load from other processes hits every variant alike.

    python bench/bench_datapath.py --workloads quickstart cls320 seg512 --rounds 5

Workloads (the data is generated in a temporary folder; ``cache_data`` on, so decoding is not timed):

* ``quickstart``: scikit-learn's digits as ``nptrain data digits`` writes them, with
  ``examples/quickstart.yaml``'s train augmentation (resize 32, random resized crop 32, normalize), batch 32;
* ``cls320``: ``bench/bench_loader.py``'s 320x320 JPEGs (random resized crop 224, flip, colour jitter,
  normalize), batch 16;
* ``seg512``: ``bench/bench_e2e.py``'s 512x512 segmentation images and masks (random resized crop 512,
  flip, colour jitter p 0.5, normalize), batch 2.

Variants: ``float`` (the pipeline handed float images, as before the uint8 path), ``uint8`` (the
decoded uint8 images in the cache) and, when the pipeline starts with a ``resize``,
``uint8_resize_cached`` (what ``nptrain run`` does now: the cache holds the resized image and each epoch
skips that resize). Prints the median images/s of each and its ratio over ``float``, and the share of
the machine other processes took meanwhile (``foreign_cpu_frac``).
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

QUICKSTART_AUG = """augmentation:
  train:
    - {name: resize, size: 32}
    - {name: randomresizedcrop, size: 32, scale: [0.7, 1.0], ratio: [0.85, 1.15]}
    - {name: normalize, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}
  inference:
    - {name: resize, size: 32}
"""
CLS_AUG = """augmentation:
  train:
    - {name: randomresizedcrop, size: 224}
    - {name: randomhorizontalflip}
    - {name: colorjitter, brightness: 0.2, contrast: 0.2, saturation: 0.2}
    - {name: normalize, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}
  inference:
    - {name: resize, size: 224}
"""


def _config(tmp: Path, workload: str) -> tuple[str, int]:
    """The YAML of ``workload`` (writing its data under ``tmp``) and its batch size."""
    if workload == "quickstart":
        from nptrain.data.digits import write_digits

        write_digits(tmp / "digits")
        return (f"data:\n  path:\n    train: {{image: {tmp}/digits/train}}\n    valid: {{image: {tmp}/digits/valid}}\n"
                f"{QUICKSTART_AUG}model:\n  name: simple_cnn\nenvironment:\n  cache_data: true\n"), 32
    if workload == "cls320":
        from bench_loader import write_images

        write_images(tmp / "cls", per_class=64)
        return (f"data:\n  path:\n    train: {{image: {tmp}/cls/train}}\n    valid: {{image: {tmp}/cls/valid}}\n"
                f"{CLS_AUG}model:\n  name: resnet18\nenvironment:\n  cache_data: true\n"), 16
    from bench_e2e import config, write_segmentation

    write_segmentation(tmp / "anchor_seg")
    text = config("segformer_b0", tmp, tmp / "runs", 1, 0)
    return text.replace("environment:\n", "environment:\n  cache_data: true\n"), 2


def train_model(text: str) -> str:
    """The preset named in a workload's config."""
    return text.split("model:\n")[1].split("name: ")[1].split("\n")[0].strip()


class FloatFirst:
    """The pipeline handed float images in [0, 1]: no ``takes_uint8``, so the dataset converts first."""

    def __init__(self, pipeline) -> None:
        self.pipeline = pipeline

    def __call__(self, image, target, gen):
        return self.pipeline(image, target, gen)


def _variants(train) -> dict:
    from nptrain.data.seeded import Resized

    # the decoded images alone in the cache (the cache before the leading resize was cached)
    plain = copy.copy(train)
    plain.cache = [train.compact(train.decode(i)) for i in range(len(train))]
    as_float = copy.copy(plain)
    as_float.transform = FloatFirst(train.transform)
    out = {"float": as_float, "uint8": plain}
    if any(isinstance(entry, Resized) for entry in train.cache):
        out["uint8_resize_cached"] = train  # what build_data made: the leading resize applied in the cache
    return out


def _one_pass(ds, batch: int) -> float:
    from nptrain.data.loader import make_loader

    loader = make_loader(ds, batch_size=batch, shuffle=True, seed=0, num_workers=0)
    t0 = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - t0


def _one_epoch_of_training(ds, batch: int, model: torch.nn.Module, opt: torch.optim.Optimizer) -> float:
    """A training epoch (forward, cross-entropy, backward, AdamW) fed by ``ds``'s loader (classification)."""
    from nptrain.data.loader import make_loader

    loader = make_loader(ds, batch_size=batch, shuffle=True, seed=0, num_workers=0)
    model.train()
    t0 = time.perf_counter()
    for images, target in loader:
        loss = torch.nn.functional.cross_entropy(model(images), target["label"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", nargs="+", default=["quickstart", "cls320", "seg512"],
                    choices=["quickstart", "cls320", "seg512"])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--train", action="store_true",
                    help="time training epochs of the workload's model fed by each variant instead of the loader alone "
                         "(classification workloads)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from nptrain.config.loader import load_config
    from nptrain.training.cpu_load import CpuWindow
    from nptrain.training.setup import build_data

    for workload in args.workloads:
        with tempfile.TemporaryDirectory() as tmp:
            text, batch = _config(Path(tmp), workload)
            cfg = Path(tmp) / "config.yaml"
            cfg.write_text(text)
            train = build_data(load_config([str(cfg)])).train
            variants = _variants(train)
            times: dict[str, list[float]] = {name: [] for name in variants}
            window = CpuWindow.start()
            if args.train:
                import nptrain

                torch.manual_seed(0)
                model = nptrain.create_model(train_model(text), num_classes=len(train.classes))
                opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
                _one_epoch_of_training(variants["float"], batch, model, opt)  # warm-up
            for _ in range(args.rounds):
                for name, ds in variants.items():
                    times[name].append(_one_epoch_of_training(ds, batch, model, opt) if args.train
                                       else _one_pass(ds, batch))
            foreign = window.stop()["foreign_cpu_frac"]
            base = statistics.median(times["float"])
            for name, values in times.items():
                med = statistics.median(values)
                what = "training epochs" if args.train else "loader passes"
                print(f"{workload} {name:>20}: {len(train) / med:8.1f} img/s (median of {args.rounds} {what} over "
                      f"{len(train)} images, {med:.3f} s) -> {base / med:.2f}x float")
            print(f"{workload}: foreign_cpu_frac {foreign if foreign is None else round(foreign, 2)}, "
                  f"{args.threads} thread(s)")


if __name__ == "__main__":
    main()
