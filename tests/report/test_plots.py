"""results.png, confusion_matrix.png and pr_curve.png: what goes on which panel, the numbers
behind the pictures, and each picture written, of the expected size and not blank."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nptrain.report.confusion import compact_count, normalise_rows, plot_confusion
from nptrain.report.pr_curve import RECALL_POINTS, plot_pr_curves
from nptrain.report.results_plot import panels, plot_results
from nptrain.training.metrics import ClassificationMetric


def _history(epochs: int = 5) -> list[dict]:
    rows = []
    for e in range(1, epochs + 1):
        rows.append({"epoch": e, "train_loss": 3.0 / e, "train_loss_iou": 1.0 / e, "train_loss_num_fg": 40.0 + e,
                     "lr": 1e-3 / e, "train_img_per_s": 1800.0 + 10 * e, "valid_loss": 3.2 / e,
                     "valid_map50_95": 0.1 * e, "valid_map50": 0.15 * e, "valid_precision50": 0.05 * e,
                     "valid_recall50": 0.16 * e, "time_s": 2.0})
    return rows


def test_results_panels_keep_scales_apart():
    groups = panels(list(_history()[-1]))
    assert groups == {
        "loss": ["train_loss", "train_loss_iou", "valid_loss"],
        "mAP": ["valid_map50_95", "valid_map50"],
        "precision / recall @0.5": ["valid_precision50", "valid_recall50"],
        "counts (not losses)": ["train_loss_num_fg"],
        "learning rate": ["lr"],
        "throughput (img/s)": ["train_img_per_s"],
    }
    cls = panels(["train_loss", "lr", "train_img_per_s", "valid_loss", "valid_top1_accuracy", "valid_top5_accuracy",
                  "valid_miou"])
    assert cls["accuracy"] == ["valid_top1_accuracy", "valid_top5_accuracy"] and cls["mIoU"] == ["valid_miou"]


def test_results_png_is_written(tmp_path, png_check):
    path = tmp_path / "results.png"
    assert plot_results(path, _history()) is None
    # six panels: 4 columns x 2 rows of 4.2 x 3.2 in at 100 dpi (cropped to the drawing)
    png_check(path, (1400, 500), (1800, 700))


def test_classification_metric_counts_the_confusion_matrix():
    metric = ClassificationMetric(num_classes=3)
    logits = torch.tensor([[5.0, 0, 0], [0, 5.0, 0], [0, 5.0, 0], [0, 0, 5.0], [5.0, 0, 0]])
    metric.update(logits, {"labels": torch.tensor([0, 1, 2, 2, 1])}, loss=0.5)
    assert metric.confusion().tolist() == [[1, 0, 0], [1, 1, 0], [0, 1, 1]]
    assert metric.compute()["top1_accuracy"] == pytest.approx(3 / 5)
    assert ClassificationMetric().confusion() is None


def test_confusion_rows_normalise_and_counts_stay_short():
    norm = normalise_rows(np.array([[3.0, 1.0], [0.0, 0.0]]))
    assert norm.tolist() == [[0.75, 0.25], [0.0, 0.0]]  # a class without samples is 0, not NaN
    assert [compact_count(v) for v in (7152, 166956, 2_500_000)] == ["7152", "167k", "2.5M"]


@pytest.mark.parametrize("n, min_size, max_size", [(2, (500, 400), (900, 650)), (30, (1500, 1400), (2100, 1800))])
def test_confusion_matrix_png_is_written_for_few_and_many_classes(tmp_path, png_check, n, min_size, max_size):
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 5, (n, n)) + np.eye(n) * 50
    path = tmp_path / "confusion_matrix.png"
    plot_confusion(path, counts, [f"class_with_a_long_name_{i}" for i in range(n)])
    png_check(path, min_size, max_size)


def test_pr_curve_png_is_written(tmp_path, png_check):
    falling = np.clip(1.0 - RECALL_POINTS ** 3, 0, 1)
    path = tmp_path / "pr_curve.png"
    plot_pr_curves(path, [falling, np.where(RECALL_POINTS <= 0.6, 0.9, 0.0), None], ["rectangle", "ellipse", "triangle"])
    png_check(path, (700, 450), (1000, 650))


def test_detection_metric_pr_curve_averages_to_ap50():
    pytest.importorskip("faster_coco_eval")
    from nptrain.detection.metrics import DetectionMetric
    from nptrain.detection.postprocess import Detections

    metric = DetectionMetric(num_classes=3)
    gt = torch.tensor([[10.0, 10, 50, 50], [60, 60, 90, 90]])
    # class 0: one hit, one miss with a higher score; class 1: one hit; class 2: no ground truth
    det = Detections(torch.tensor([[12.0, 10, 50, 52], [0, 0, 5, 5], [60, 60, 90, 90]]),
                     torch.tensor([0.6, 0.9, 0.8]), torch.tensor([0, 0, 1]))
    metric.evaluator.add([det], [gt], [torch.tensor([0, 1])])
    metric.compute()
    curves = metric.pr_curves()
    details = metric.details(["a", "b", "c"])
    assert curves[2] is None and curves[1].shape == (101,)
    assert np.allclose(curves[1], 1.0)  # the only box, found first
    assert curves[0].max() == pytest.approx(0.5)  # found after one false positive
    for k, name in enumerate("ab"):
        assert float(np.mean(curves[k])) == pytest.approx(details["per_class_ap50"][name])
