"""Run directory and per-epoch records: ``runs/<task>/<name>[N]``, results.csv, results.png,
TensorBoard events, summary.json. Only rank 0 creates or writes any of it."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Optional

from nptrain.errors import UserError
from nptrain.training_io import atomic_write_bytes


def run_name_problem(name: str) -> Optional[str]:
    """Why ``name`` cannot be a run directory's name (it must stay one folder inside
    ``<output_dir>/<task>``), or None when it can."""
    if not name:
        return "is empty"
    if name in (".", ".."):
        return f"is {name!r}, which names no new folder"
    bad = [c for c in ("/", "\\", "\0") if c in name]
    if bad:
        return f"contains {bad[0]!r}: a run name is one folder name, without path separators"
    return None


def new_run_dir(output_dir: str, task: str, name: str) -> Path:
    """``<output_dir>/<task>/<name>``, or ``<name>2``, ``<name>3`` … if taken: never overwrites.
    A name that ends in a digit gets ``-2``, ``-3`` (``resnet18-2``, not ``resnet182``).
    ``mkdir(exist_ok=False)`` makes the claim atomic when two runs start at once."""
    problem = run_name_problem(name)
    if problem:  # callers check first with a better location; this keeps every caller inside base
        raise UserError(f"run name {name!r} {problem}")
    base = Path(output_dir) / task
    base.mkdir(parents=True, exist_ok=True)
    sep = "-" if name[-1:].isdigit() else ""
    n = 1
    while True:
        path = base / (name if n == 1 else f"{name}{sep}{n}")
        try:
            path.mkdir()
            (path / "weights").mkdir()
            return path
        except FileExistsError:
            n += 1


def write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2, default=_jsonable) + "\n").encode())


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


def write_results_csv(path: Path, history: list[dict[str, Any]]) -> None:
    """Rewritten from the full history each epoch, so a resumed run never keeps rows of an epoch
    that was interrupted before its checkpoint was written."""
    if not history:
        return
    columns: list[str] = []
    for row in history:
        columns += [k for k in row if k not in columns]
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns)
    writer.writeheader()
    for row in history:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    atomic_write_bytes(path, buf.getvalue().encode())


def plot_results(path: Path, history: list[dict[str, Any]]) -> Optional[str]:
    """Loss, metric and LR curves as results.png; returns an error message instead of raising."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed (servers, CI)
        import matplotlib.pyplot as plt
    except Exception as exc:  # noqa: BLE001 - plotting is optional
        return f"plot skipped: {exc}"
    epochs = [r["epoch"] for r in history]
    keys = [k for k in history[-1] if k not in ("epoch", "time_s") and isinstance(history[-1][k], (int, float))]
    groups = {"loss": [k for k in keys if "loss" in k], "metrics": [k for k in keys if "loss" not in k and k != "lr"],
              "lr": [k for k in keys if k == "lr"]}
    groups = {g: ks for g, ks in groups.items() if ks}
    fig, axes = plt.subplots(1, len(groups), figsize=(5 * len(groups), 3.5), squeeze=False)
    for ax, (title, ks) in zip(axes[0], groups.items()):
        for k in ks:
            pts = [(e, r.get(k)) for e, r in zip(epochs, history) if isinstance(r.get(k), (int, float))]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=3, label=k)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)
    return None


class TensorBoard:
    """Thin wrapper: missing tensorboard turns into a printed note, not a crash."""

    def __init__(self, log_dir: Path, purge_step: Optional[int] = None) -> None:
        self.writer = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(log_dir), purge_step=purge_step)
        except Exception as exc:  # noqa: BLE001
            print(f"tensorboard disabled: {type(exc).__name__}: {exc}")

    def log(self, row: dict[str, Any], step: int) -> None:
        if self.writer is None:
            return
        for k, v in row.items():
            if k != "epoch" and isinstance(v, (int, float)):
                self.writer.add_scalar(k.replace("train_", "train/").replace("valid_", "valid/"), v, step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
