"""The closing lines of ``nptrain run``: where the results went and the commands that come next,
written with the real run directory (quoted for the shell) so they can be pasted as they are."""
from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any, Optional

PICTURES = ("results.png", "confusion_matrix.png", "pr_curve.png", "val_samples.png")


def example_image(dataset: Any) -> Optional[Path]:
    """The first validation image (a real file to try ``predict`` on), if the dataset has one."""
    samples = getattr(dataset, "samples", None)
    if not samples:
        return None
    first = samples[0]
    path = getattr(first, "image", None) or (first[0] if isinstance(first, (tuple, list)) else None)
    # a file on disk; not a Hugging Face row's encoded bytes (nptrain.data.huggingface.NamedBytes)
    return Path(path) if isinstance(path, (str, Path)) else None


def next_steps(run_dir: Path, image: Optional[Path] = None) -> list[str]:
    """Lines to print after a finished run."""
    run = shlex.quote(str(run_dir))
    pictures = [p for p in PICTURES if (run_dir / p).is_file()]
    shown = ", ".join(pictures + ["results.csv", "summary.json", "weights/"])
    target = shlex.quote(str(image)) if image is not None else "IMAGE|FOLDER"
    return [
        f"results: {run_dir}/ ({shown})",
        "next:",
        f"  nptrain evaluate {run}  # metrics on the validation split",
        f"  nptrain predict {run} {target} -o {shlex.quote(str(run_dir / 'predictions'))}",
        f"  nptrain export {run} --format onnx  # or fx; --weights last, --opset N -> exports/",
        f"  nptrain compress {run} --ratio 0.5  # structured pruning, then retrain.yaml",
        f"  nptrain run --resume {run} training.epochs=N  # train longer",
    ]
