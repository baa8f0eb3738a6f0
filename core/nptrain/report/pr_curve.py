"""``pr_curve.png``: precision against recall for each detection class at IoU 0.5 (COCO's
101-point interpolated curve, the one AP50 is the mean of), the class AP50 in the legend and
their mean as a thick line. Classes without ground truth in the validation split are listed as such."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from nptrain.report.figure_io import pyplot, save_figure

RECALL_POINTS = np.linspace(0.0, 1.0, 101)  # COCO's recall thresholds
MAX_LEGEND = 20  # more classes: the legend lists the mean only


def plot_pr_curves(path: Path, curves: Sequence[Optional[np.ndarray]], classes: Sequence[str]) -> None:
    """``curves[k]``: class k's precision at :data:`RECALL_POINTS` (None: no ground truth)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.0, 5.5), layout="constrained")
    cmap = plt.get_cmap("tab20" if len(classes) > 10 else "tab10")
    present = [c for c in curves if c is not None]
    for k, curve in enumerate(curves):
        if curve is None:
            continue
        label = f"{classes[k]} {float(np.mean(curve)):.3f}" if len(classes) <= MAX_LEGEND else None
        ax.plot(RECALL_POINTS, curve, linewidth=1.2, color=cmap(k % cmap.N), label=label)
    if present:
        mean = np.mean(np.stack(present), axis=0)
        ax.plot(RECALL_POINTS, mean, linewidth=3.0, color="black", label=f"all classes {float(np.mean(mean)):.3f} AP50")
    missing = [classes[k] for k, c in enumerate(curves) if c is None]
    if missing:
        shown = ", ".join(missing[:5]) + (f" (+{len(missing) - 5})" if len(missing) > 5 else "")
        ax.text(0.02, 0.02, f"no ground truth: {shown}", transform=ax.transAxes, fontsize=8, color="dimgray")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("precision-recall at IoU 0.5 (legend: AP50)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(1.01, 0.0), borderaxespad=0.0)
    save_figure(fig, path)
