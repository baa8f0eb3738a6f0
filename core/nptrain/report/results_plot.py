"""``results.png``: the per-epoch history as one panel per quantity family, so no quantity squashes
another onto a flat line (img/s runs to thousands, accuracies stay in [0, 1]).

Panels: losses (train and valid together); each metric on its own axis (top-1 next to top-5 when
both exist, detection's mAPs together); the learning rate; throughput. Loss components that are
counts, not losses (``train_loss_num_fg``: foreground anchors per image), get a panel of their own.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from nptrain.report.figure_io import pyplot, save_figure

SKIP = ("epoch", "time_s")
COUNT_MARKERS = ("num_", "_count")  # loss components that count things instead of measuring error
# metrics that belong on one axis: they share a scale and are read against each other
METRIC_FAMILIES = {"top1_accuracy": "accuracy", "top5_accuracy": "accuracy",
                   "map50_95": "mAP", "map50": "mAP", "map75": "mAP",
                   "precision50": "precision / recall @0.5", "recall50": "precision / recall @0.5",
                   "miou": "mIoU", "pixel_accuracy": "pixel accuracy"}
PANEL_SIZE = (4.2, 3.2)
MAX_COLUMNS = 4


def _numeric_keys(history: list[dict[str, Any]]) -> list[str]:
    keys: list[str] = []
    for row in history:
        keys += [k for k, v in row.items() if k not in keys and k not in SKIP and isinstance(v, (int, float))]
    return keys


def _is_count(key: str) -> bool:
    return "loss" in key and any(m in key for m in COUNT_MARKERS)


def panels(keys: list[str]) -> dict[str, list[str]]:
    """Panel title → the history keys drawn in it, in display order."""
    keys = [k for k in keys if k not in SKIP]
    out: dict[str, list[str]] = {}
    losses = [k for k in keys if "loss" in k and not _is_count(k)]
    if losses:
        out["loss"] = losses
    for key in keys:
        if "loss" in key or key in ("lr", "train_img_per_s"):
            continue
        name = key.split("_", 1)[1] if key.startswith(("train_", "valid_")) else key
        out.setdefault(METRIC_FAMILIES.get(name, name), []).append(key)
    counts = [k for k in keys if _is_count(k)]
    if counts:
        out["counts (not losses)"] = counts
    if "lr" in keys:
        out["learning rate"] = ["lr"]
    if "train_img_per_s" in keys:
        out["throughput (img/s)"] = ["train_img_per_s"]
    return out


def plot_results(path: Path, history: list[dict[str, Any]]) -> Optional[str]:
    """Write ``path``; returns a message instead of raising (a plot must never end a run)."""
    try:
        plt = pyplot()
    except Exception as exc:  # noqa: BLE001 - plotting is optional
        return f"plot skipped: {exc}"
    groups = panels(_numeric_keys(history))
    if not groups:
        return None
    ncols = min(len(groups), MAX_COLUMNS)
    nrows = -(-len(groups) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(PANEL_SIZE[0] * ncols, PANEL_SIZE[1] * nrows), squeeze=False,
                             layout="constrained")
    from matplotlib.ticker import MaxNLocator

    flat = [ax for row in axes for ax in row]
    for ax, (title, keys) in zip(flat, groups.items()):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        for key in keys:
            pts = [(r["epoch"], r[key]) for r in history if isinstance(r.get(key), (int, float))]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=3, label=key)
        epochs = [r["epoch"] for r in history]
        if epochs and max(epochs) - min(epochs) < 2:  # one or two epochs: pad, or the ticks read 0.95, 0.975, ...
            ax.set_xlim(min(epochs) - 1, max(epochs) + 1)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if title == "learning rate":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        ax.legend(fontsize=7)
    for ax in flat[len(groups):]:
        ax.axis("off")
    save_figure(fig, path)
    return None
