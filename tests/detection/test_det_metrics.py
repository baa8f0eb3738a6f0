"""Post-processing and COCO-style metrics against values derived by hand."""
from __future__ import annotations

import math

import pytest
import torch

from nptrain.detection.boxes import xyxy_to_cxcywh
from nptrain.detection.metrics import DetectionEvaluator, DetectionMetric
from nptrain.detection.postprocess import Detections, PostProcessConfig, postprocess
from nptrain.errors import UserError

pytest.importorskip("faster_coco_eval")


def dets(boxes, scores, classes) -> Detections:
    return Detections(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), torch.tensor(scores, dtype=torch.float32),
                      torch.tensor(classes, dtype=torch.long))


GT = [torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 40.0, 40.0]]), torch.tensor([[5.0, 5.0, 25.0, 30.0]])]
GT_CLS = [torch.tensor([0, 1]), torch.tensor([1])]


def test_perfect_predictions_score_one():
    ev = DetectionEvaluator(num_classes=2)
    ev.add([dets(g.tolist(), [0.9] * len(g), c.tolist()) for g, c in zip(GT, GT_CLS)], GT, GT_CLS)
    assert ev.compute() == {"map50": 1.0, "map75": 1.0, "map50_95": 1.0, "precision50": 1.0, "recall50": 1.0}


def test_hand_computed_average_precision():
    """One class, 3 gts over two images; detections by score: TP (0.9), FP (0.8), TP (0.7).
    Precision/recall after each: (1, 1/3), (1/2, 1/3), (2/3, 2/3); the third gt is missed.
    COCO interpolates precision at 101 recall points r = 0, 0.01, …, 1 as the best precision at
    recall ≥ r: 1 for the 34 points r ≤ 1/3, 2/3 for the 33 points 1/3 < r ≤ 2/3, 0 above.
    AP = (34 · 1 + 33 · 2/3) / 101 = 56/101. All matches are exact, so AP75 and AP50:95 equal it."""
    gt = [torch.tensor([[0.0, 0.0, 10.0, 10.0], [50.0, 50.0, 70.0, 70.0]]), torch.tensor([[10.0, 10.0, 30.0, 30.0]])]
    gt_cls = [torch.tensor([0, 0]), torch.tensor([0])]
    predictions = [dets([[0.0, 0.0, 10.0, 10.0], [80.0, 80.0, 90.0, 90.0]], [0.9, 0.8], [0, 0]),
                   dets([[10.0, 10.0, 30.0, 30.0]], [0.7], [0])]
    ev = DetectionEvaluator(num_classes=1)
    ev.add(predictions, gt, gt_cls)
    m = ev.compute()
    expected = 56 / 101
    assert m["map50"] == pytest.approx(expected, abs=1e-9)
    assert m["map75"] == pytest.approx(expected, abs=1e-9) and m["map50_95"] == pytest.approx(expected, abs=1e-9)
    assert m["precision50"] == pytest.approx(2 / 3) and m["recall50"] == pytest.approx(2 / 3)


def test_iou_threshold_sensitivity():
    """A detection with IoU 0.6 counts at 0.5 (AP 1) but not at 0.75 (AP 0); over 0.50:0.95 it
    counts at the thresholds 0.50, 0.55, 0.60 (3 of 10), so AP50:95 = 0.3."""
    gt = [torch.tensor([[0.0, 0.0, 10.0, 10.0]])]
    # [0, 0, 10, 6]: intersection 60, union 100 → IoU 0.6
    ev = DetectionEvaluator(num_classes=1)
    ev.add([dets([[0.0, 0.0, 10.0, 6.0]], [0.5], [0])], gt, [torch.tensor([0])])
    m = ev.compute()
    assert m["map50"] == 1.0 and m["map75"] == 0.0 and m["map50_95"] == pytest.approx(0.3)


def test_wrong_class_and_missing_and_empty():
    ev = DetectionEvaluator(num_classes=2)
    ev.add([dets(GT[0].tolist(), [0.9, 0.9], [1, 0]), dets([], [], [])], GT, GT_CLS)  # classes swapped, image 2 missed
    m = ev.compute()
    assert m["map50"] == 0.0 and m["precision50"] == 0.0 and m["recall50"] == 0.0
    nothing = DetectionEvaluator(num_classes=2)
    nothing.add([dets([], [], [])], [torch.zeros(0, 4)], [torch.zeros(0, dtype=torch.long)])
    assert nothing.compute()["map50"] == 0.0
    with pytest.raises(ValueError, match="outside 0..1"):
        nothing.add([dets([], [], [])], [torch.zeros(1, 4)], [torch.tensor([5])])


def raw_output(rows: list[tuple[list[float], float, list[float]]]) -> torch.Tensor:
    """Build a decoded head output from (xyxy box, obj prob, class probs) rows."""
    out = []
    for box, obj, cls in rows:
        logit = lambda p: math.log(p / (1 - p))  # noqa: E731
        out.append(xyxy_to_cxcywh(torch.tensor(box)).tolist() + [logit(obj)] + [logit(p) for p in cls])
    return torch.tensor([out])


def test_postprocess_threshold_nms_and_cap():
    pred = raw_output([
        ([0, 0, 10, 10], 0.9, [0.9, 0.1]),   # 0.81, class 0
        ([1, 0, 11, 10], 0.9, [0.8, 0.1]),   # 0.72, class 0, overlaps the first → suppressed
        ([1, 0, 11, 10], 0.9, [0.1, 0.7]),   # 0.63, class 1 → kept (other class)
        ([50, 50, 60, 60], 0.5, [0.5, 0.1]),  # 0.25
        ([70, 70, 80, 80], 0.1, [0.5, 0.1]),  # 0.05 → below 0.1
    ])
    d = postprocess(pred, PostProcessConfig(score_thresh=0.1, iou_thresh=0.5))[0]
    assert d.classes.tolist() == [0, 1, 0]
    assert d.scores.tolist() == pytest.approx([0.81, 0.63, 0.25], abs=1e-5)
    assert torch.allclose(d.boxes[0], torch.tensor([0.0, 0.0, 10.0, 10.0]), atol=1e-5)
    capped = postprocess(pred, PostProcessConfig(score_thresh=0.1, iou_thresh=0.5, max_detections=2))[0]
    assert len(capped) == 2
    clipped = postprocess(pred, PostProcessConfig(score_thresh=0.1), image_size=(55, 55))[0]
    assert float(clipped.boxes.max()) <= 55


def test_detection_metric_engine_interface():
    pred = raw_output([([0, 0, 10, 10], 0.99, [0.99, 0.01]), ([20, 20, 40, 40], 0.99, [0.01, 0.99])])
    metric = DetectionMetric(num_classes=2, names=["map50", "recall50"])
    metric.update(pred, {"boxes": GT[:1], "classes": GT_CLS[:1]}, loss=2.0)
    metric.reduce()  # no process group: a no-op
    assert metric.compute() == {"loss": 2.0, "map50": 1.0, "recall50": 1.0}
    assert metric.primary == "map50"
    with pytest.raises(UserError, match="metric_names: 'miou' is not a detection metric"):
        DetectionMetric(2, names=["miou"])
    assert DetectionMetric(2).primary == "map50_95"  # best weights follow the strictest metric by default


def test_class_agnostic_nms_suppresses_across_classes():
    pred = raw_output([([0, 0, 10, 10], 0.9, [0.9, 0.1]), ([1, 0, 11, 10], 0.9, [0.1, 0.7])])
    per_class = postprocess(pred, PostProcessConfig(score_thresh=0.1, iou_thresh=0.5))[0]
    agnostic = postprocess(pred, PostProcessConfig(score_thresh=0.1, iou_thresh=0.5, class_agnostic=True))[0]
    assert per_class.classes.tolist() == [0, 1] and agnostic.classes.tolist() == [0]


def test_per_class_ap_details_and_table():
    """Class 0 found exactly (AP 1), class 1's only box missed (AP 0), class 2 absent (None)."""
    metric = DetectionMetric(num_classes=3)
    pred = raw_output([([0, 0, 10, 10], 0.99, [0.99, 0.01, 0.01])])
    metric.update(pred, {"boxes": GT[:1], "classes": GT_CLS[:1], "image_size": torch.tensor([[64, 64]])}, loss=1.0)
    values = metric.compute()
    assert values["map50"] == pytest.approx(0.5) and values["recall50"] == pytest.approx(0.5)
    details = metric.details(["a", "b", "c"])
    assert details["per_class_ap50"] == {"a": pytest.approx(1.0), "b": 0.0, "c": None}
    assert details["per_class_ap50_95"]["a"] == pytest.approx(1.0) and details["per_class_boxes"] == {"a": 1, "b": 1, "c": 0}
    rows = metric.table(["a", "b", "c"]).splitlines()
    assert rows[0].split() == ["class", "AP50:95", "AP50", "boxes"]
    assert rows[2].split() == ["a", "1.0000", "1.0000", "1"] and rows[4].split() == ["c", "-", "-", "0"]


DDP_WORKER = """
import sys
import torch
import torch.distributed as dist
from nptrain.detection.boxes import xyxy_to_cxcywh
from nptrain.detection.metrics import DetectionMetric

rank, port = int(sys.argv[1]), sys.argv[2]
dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
gen = torch.Generator().manual_seed(0)
gts = [torch.rand(3, 2, generator=gen) * 40 for _ in range(5)]
gts = [torch.cat((g, g + 5 + torch.rand(3, 2, generator=gen) * 20), 1) for g in gts]
classes = [torch.randint(0, 2, (3,), generator=gen) for _ in range(5)]
# noisy predictions: jittered gt boxes with random scores/classes, plus some spurious boxes
preds = []
for g in gts:
    boxes = torch.cat((g + torch.randn(3, 4, generator=gen) * 2, torch.rand(2, 4, generator=gen) * 40), 0)
    boxes[:, 2:] = torch.maximum(boxes[:, 2:], boxes[:, :2] + 1)
    logits = torch.randn(5, 3, generator=gen) * 3
    preds.append(torch.cat((xyxy_to_cxcywh(boxes), logits), 1))
pred = torch.stack(preds)
# uneven shards, as the validation sampler gives: rank 0 images 0-2, rank 1 images 3-4
sl = slice(0, 3) if rank == 0 else slice(3, 5)
m = DetectionMetric(2)
m.update(pred[sl], {"boxes": gts[sl], "classes": classes[sl]}, 1.0)
m.reduce()
single = DetectionMetric(2)
single.update(pred, {"boxes": gts, "classes": classes}, 1.0)
a, b = m.compute(), single.compute()
assert a == b, (a, b)
assert 0 < b["map50"] < 1, b
print("ok", rank)
dist.destroy_process_group()
"""


def test_ddp_gathered_metrics_equal_single_process(two_ranks):
    two_ranks(DDP_WORKER)
