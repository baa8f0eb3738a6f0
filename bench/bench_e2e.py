"""End-to-end training throughput of ``nptrain run`` on the NetsPresso Trainer comparison setting.

    python bench/bench_e2e.py resnet50 efficientformer_l1 segformer_b0 pidnet_s [--rounds 2] [--extra k=v ...]

Reproduces the nptrain side of the side-by-side harness (docs/benchmarks.md) without it: the same
amount of data (classification: 10 classes, 224x224 JPEG, 320 train / 80 valid, CSV labels;
segmentation: 19 classes, 512x512 JPEG + PNG masks with 255 void lines, 64 / 16), model, batch (8 /
2), augmentation (random resized crop + flip, colour jitter for segmentation), AdamW 6e-5 with cosine
decay, 3 epochs, 2 loader workers, the run's default threads. The data is generated here,
deterministically (``--data DIR`` uses a folder of the harness's own data instead).

Prints one JSON line per run: ``images_per_s_train`` (train images over the training-phase wall time of
epochs 2..N, loading included; from results.csv), the whole run's wall time, the run's ``speed:``
header line, and ``foreign_cpu_frac``, the share of the machine other processes took meanwhile
(compare only runs where it is low). ``--extra`` passes overrides, e.g. ``training.mixed_precision=false``.
"""
from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

IMNET = "mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]"
MODELS = {  # model -> (task, batch, input side, loss entry)
    "resnet50": ("classification", 8, 224, "{criterion: cross_entropy, label_smoothing: 0.1}"),
    "efficientformer_l1": ("classification", 8, 224, "{criterion: cross_entropy, label_smoothing: 0.1}"),
    "segformer_b0": ("segmentation", 2, 512, "{criterion: seg_cross_entropy, ignore_index: 255}"),
    "pidnet_s": ("segmentation", 2, 512, "{criterion: pidnet_loss, ignore_index: 255}"),
}
COUNTS = {"classification": (320, 80, 10), "segmentation": (64, 16, 19)}  # train, valid, classes


def write_classification(root: Path, seed: int = 0) -> None:
    """Class-coloured noise images; labels in ``labels/<split>.csv`` (image_id,class)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    n_train, n_valid, n_cls = COUNTS["classification"]
    names = [f"class{i}" for i in range(n_cls)]
    (root / "labels").mkdir(parents=True, exist_ok=True)
    for split, count in (("train", n_train), ("valid", n_valid)):
        folder = root / "images" / split
        folder.mkdir(parents=True, exist_ok=True)
        rows = ["image_id,class"]
        for i in range(count):
            cls = i % n_cls
            base = np.array([25 * cls, 255 - 25 * cls, (97 * cls) % 256], dtype=np.float32)
            pixels = np.clip(base + rng.normal(0, 40, (224, 224, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{split}_{i:04d}.jpg", quality=90)
            rows.append(f"{split}_{i:04d}.jpg,{names[cls]}")
        (root / "labels" / f"{split}.csv").write_text("\n".join(rows) + "\n")
    (root / "id_mapping.json").write_text(json.dumps(names))


def write_segmentation(root: Path, seed: int = 0) -> None:
    """Rectangles of class ids on noise, masks (mode L) with 255 void lines between regions."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    n_train, n_valid, n_cls = COUNTS["segmentation"]
    for split, count in (("train", n_train), ("valid", n_valid)):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            mask = np.zeros((512, 512), dtype=np.uint8)
            for _ in range(6):
                y, x = rng.integers(0, 448, 2)
                h, w = rng.integers(32, 256, 2)
                mask[y:y + h, x:x + w] = rng.integers(0, n_cls)
            mask[::64, :] = 255
            colours = (np.arange(n_cls * 3).reshape(n_cls, 3) * 37 % 256).astype(np.float32)
            pixels = colours[np.minimum(mask, n_cls - 1)] + rng.normal(0, 20, (512, 512, 3))
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(root / "images" / split / f"{i:04d}.jpg")
            Image.fromarray(mask, mode="L").save(root / "labels" / split / f"{i:04d}.png")
    (root / "id_mapping.json").write_text(json.dumps([f"class{i}" for i in range(n_cls)]))


def ensure_data(data: Path) -> None:
    if not (data / "anchor_cls" / "id_mapping.json").is_file():
        write_classification(data / "anchor_cls")
    if not (data / "anchor_seg" / "id_mapping.json").is_file():
        write_segmentation(data / "anchor_seg")


def config(model: str, data: Path, out: Path, epochs: int, workers: int) -> str:
    task, batch, side, loss = MODELS[model]
    if task == "classification":
        root = data / "anchor_cls"
        paths = ("    train: {image: images/train, label: labels/train.csv}\n"
                 "    valid: {image: images/valid, label: labels/valid.csv}\n")
        extra_aug, mode = "", ""
    else:
        root = data / "anchor_seg"
        paths = ("    train: {image: images/train, label: labels/train}\n"
                 "    valid: {image: images/valid, label: labels/valid}\n")
        extra_aug = "    - {name: colorjitter, brightness: 0.25, contrast: 0.25, saturation: 0.25, hue: 0.1, p: 0.5}\n"
        mode = "  label_image_mode: L\n"
    return (f"data:\n  path:\n    root: {root}\n{paths}{mode}  id_mapping: {root / 'id_mapping.json'}\n"
            "augmentation:\n  train:\n"
            f"    - {{name: randomresizedcrop, size: {side}, scale: [0.08, 1.0], ratio: [0.75, 1.33]}}\n"
            "    - {name: randomhorizontalflip, p: 0.5}\n" + extra_aug +
            f"    - {{name: normalize, {IMNET}}}\n"
            f"  inference:\n    - {{name: resize, size: {side}}}\n    - {{name: normalize, {IMNET}}}\n"
            f"model:\n  task: {task}\n  name: {model}\n  losses:\n    - {loss}\n"
            f"training:\n  epochs: {epochs}\n  optimizer: {{name: adamw, lr: 6.0e-5, weight_decay: 0.0005}}\n"
            "  scheduler: {name: cosine_no_sgdr, warmup_epochs: 0, min_lr: 1.0e-5}\n"
            f"logging:\n  output_dir: {out}\n"
            f"environment:\n  seed: 1\n  batch_size: {batch}\n  num_workers: {workers}\n")


def run_once(model: str, data: Path, epochs: int, workers: int, extra: list[str], cli: list[str]) -> dict:
    import time

    from nptrain.training.cpu_load import CpuWindow

    work = Path(tempfile.mkdtemp(prefix="nptrain-e2e-"))
    try:
        cfg = work / "config.yaml"
        cfg.write_text(config(model, data, work / "runs", epochs, workers))
        window, t0 = CpuWindow.start(), time.perf_counter()
        proc = subprocess.run([*cli, "run", str(cfg), *extra], capture_output=True, text=True)
        wall, load = time.perf_counter() - t0, window.stop()
        log = proc.stdout + proc.stderr
        out = {"framework": "nptrain", "model": model, "extra": extra, "rc": proc.returncode,
               "total_wall_s": round(wall, 1), "foreign_cpu_frac": None if load["foreign_cpu_frac"] is None else round(load["foreign_cpu_frac"], 3),
               "speed": next((line for line in log.splitlines() if line.startswith("speed:")), None)}
        results = sorted(work.glob("runs/*/*/results.csv"))
        if proc.returncode != 0 or not results:
            out["error"] = log.strip().splitlines()[-3:]
            return out
        rows = list(csv.DictReader(results[0].open()))
        rates = [float(r["train_img_per_s"]) for r in rows[1:]] or [float(rows[0]["train_img_per_s"])]
        n = COUNTS[MODELS[model][0]][0]
        out["per_epoch_img_per_s"] = [round(r, 3) for r in rates]
        out["images_per_s_train"] = round(len(rates) * n / sum(n / r for r in rates), 3)  # epochs 2..N
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", choices=sorted(MODELS))
    ap.add_argument("--data", type=Path, default=Path.home() / ".cache" / "nptrain-bench" / "data",
                    help="folder holding anchor_cls/ and anchor_seg/ (generated there when missing)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--extra", nargs="*", default=[], help="config overrides, key=value")
    ap.add_argument("--cli", default=shutil.which("nptrain") or "nptrain", help="the nptrain command to time")
    a = ap.parse_args()
    ensure_data(a.data)
    for _ in range(a.rounds):
        for model in a.models:
            print(json.dumps(run_once(model, a.data, a.epochs, a.workers, a.extra, [a.cli])), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
