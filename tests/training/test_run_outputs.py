"""What a user sees around a run: the best-epoch pictures (files and TensorBoard), the closing
what-next lines, a clean ``run --resume RUN_DIR``, classification ``predict -o`` files, and
``benchmark`` writing into the run or ``-o`` but never next to the config."""
from __future__ import annotations

import csv
import json
import shlex
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from nptrain.cli.main import main
from nptrain.config.loader import load_config
from nptrain.training.engine import run_training

PLOTS_ON = """
training:
  epochs: 1
logging:
  plot: true
  tensorboard: true
"""


def _not_blank(path: Path) -> tuple[int, int]:
    with Image.open(path) as img:
        assert np.asarray(img.convert("RGB"), dtype=np.float64).std() > 20, path
        return img.size


def test_run_pictures_next_steps_resume_predict_benchmark(small_config, digits_dir, tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    paths = small_config(PLOTS_ON, name="ux")
    run = run_training(load_config(paths), name="ux")
    out = capsys.readouterr().out
    for name, (min_w, min_h) in {"results.png": (1000, 250), "confusion_matrix.png": (700, 500),
                                 "val_samples.png": (900, 1000)}.items():
        w, h = _not_blank(run / name)
        assert w >= min_w and h >= min_h, (name, w, h)
    assert not (run / "pr_curve.png").exists()  # detection only
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    assert {"best/confusion_matrix", "best/val_samples"} <= set(events.Tags()["images"])
    best_epoch = json.loads((run / "summary.json").read_text())["best"]["epoch"]
    # the last image logged is the best epoch's, whether it was drawn at once or at the end
    assert events.Images("best/val_samples")[-1].step == best_epoch
    # the closing lines name the run and the commands to paste
    lines = out.strip().splitlines()
    assert lines[-7].startswith(f"results: {run}/ (results.png, confusion_matrix.png, val_samples.png")
    assert lines[-6] == "next:"
    assert lines[-5].startswith(f"  nptrain evaluate {shlex.quote(str(run))}")
    image = lines[-4].split()[3]
    assert lines[-4].startswith(f"  nptrain predict {shlex.quote(str(run))} ") and Path(image).is_file()

    # resuming a finished run: no argparse UserWarning ("Do not expect items in Namespace")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["run", "--resume", str(run)]) == 0
    assert "run already finished" in capsys.readouterr().out

    # classification predict writes predictions.csv and a labelled grid to -o
    images = [str(p) for p in sorted((digits_dir / "valid" / "4").iterdir())[:6]]
    preds = tmp_path / "preds"
    assert main(["predict", str(run), *images, "--topk", "2", "-o", str(preds)]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    rows = list(csv.DictReader((preds / "predictions.csv").open()))
    assert [r["image"] for r in rows] == images
    assert list(rows[0]) == ["image", "class", "class_id", "probability", "class_2", "probability_2"]
    for row, line in zip(rows, printed):  # the file says what was printed (4 decimals there, 3 here)
        path, shown = line.split(": ")
        (c1, p1), (c2, p2) = (part.split(" (") for part in shown.split("  "))
        assert (path, c1, c2) == (row["image"], row["class"], row["class_2"])
        assert abs(float(p1[:-1]) - float(row["probability"])) <= 6e-4
        assert abs(float(p2[:-1]) - float(row["probability_2"])) <= 6e-4
        assert float(row["probability"]) >= float(row["probability_2"])
    w, h = _not_blank(preds / "predictions.png")
    assert w > 1000 and h > 200

    # benchmark: a run keeps benchmark.json; a config gets nothing written beside it
    config_dir = Path(paths[-1]).parent
    before = set(config_dir.iterdir())
    assert main(["benchmark", paths[0], "--repeats", "1"]) == 0
    assert set(config_dir.iterdir()) == before
    assert "-o FILE.json" in capsys.readouterr().out
    assert main(["benchmark", str(run), "--repeats", "1"]) == 0
    assert json.loads((run / "benchmark.json").read_text())["params"] > 0
