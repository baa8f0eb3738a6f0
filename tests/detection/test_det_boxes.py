"""Box ops and NMS against brute-force numpy references written here."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nptrain.detection.boxes import (
    aligned_box_iou, aligned_generalized_box_iou, batched_nms, box_iou, clip_boxes, cxcywh_to_xyxy,
    generalized_box_iou, nms, xyxy_to_cxcywh,
)


def random_boxes(n: int, rng: np.random.Generator, size: float = 100.0) -> np.ndarray:
    xy = rng.uniform(0, size, (n, 2))
    wh = rng.uniform(1, size / 2, (n, 2))
    return np.concatenate([xy, xy + wh], 1)


def ref_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros((len(a), len(b)))
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            iw = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
            ih = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
            inter = iw * ih
            union = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter
            out[i, j] = inter / union
    return out


def ref_giou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    iou = ref_iou(a, b)
    out = np.zeros_like(iou)
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            enc = (max(p[2], q[2]) - min(p[0], q[0])) * (max(p[3], q[3]) - min(p[1], q[1]))
            inter_w = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
            inter_h = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
            union = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter_w * inter_h
            out[i, j] = iou[i, j] - (enc - union) / enc
    return out


def ref_nms(boxes: np.ndarray, scores: np.ndarray, thresh: float) -> list[int]:
    """Textbook greedy NMS: take the best remaining box, drop everything overlapping it too much."""
    remaining = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    keep = []
    while remaining:
        best = remaining.pop(0)
        keep.append(best)
        remaining = [i for i in remaining if ref_iou(boxes[[best]], boxes[[i]])[0, 0] <= thresh]
    return keep


def test_conversions_round_trip():
    rng = np.random.default_rng(0)
    b = torch.from_numpy(random_boxes(50, rng))
    c = xyxy_to_cxcywh(b)
    assert torch.allclose(c[:, 0], (b[:, 0] + b[:, 2]) / 2) and torch.allclose(c[:, 3], b[:, 3] - b[:, 1])
    assert torch.allclose(cxcywh_to_xyxy(c), b)
    assert torch.allclose(xyxy_to_cxcywh(torch.tensor([[0.0, 0.0, 4.0, 2.0]])), torch.tensor([[2.0, 1.0, 4.0, 2.0]]))


def test_iou_and_giou_match_reference():
    rng = np.random.default_rng(1)
    a, b = random_boxes(20, rng), random_boxes(30, rng)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    np.testing.assert_allclose(box_iou(ta, tb).numpy(), ref_iou(a, b), atol=1e-9)
    np.testing.assert_allclose(generalized_box_iou(ta, tb).numpy(), ref_giou(a, b), atol=1e-9)
    np.testing.assert_allclose(aligned_box_iou(ta, tb[:20]).numpy(), np.diag(ref_iou(a, b[:20])), atol=1e-9)
    np.testing.assert_allclose(aligned_generalized_box_iou(ta, tb[:20]).numpy(), np.diag(ref_giou(a, b[:20])), atol=1e-9)
    # identical boxes: 1; disjoint: IoU 0 and a negative GIoU
    same = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    far = torch.tensor([[4.0, 0.0, 6.0, 2.0]])
    assert float(box_iou(same, same)) == 1.0 and float(box_iou(same, far)) == 0.0
    assert float(generalized_box_iou(same, far)) == pytest.approx(-2 / 6)


def test_clip():
    b = torch.tensor([[-5.0, 3.0, 120.0, 90.0]])
    assert clip_boxes(b, height=80, width=100).tolist() == [[0.0, 3.0, 100.0, 80.0]]


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("thresh", [0.3, 0.5, 0.7])
def test_nms_matches_reference(seed, thresh):
    rng = np.random.default_rng(seed)
    # clustered boxes so that suppression actually happens
    centres = random_boxes(5, rng)
    boxes = np.concatenate([c + rng.normal(0, 4, (12, 4)) for c in centres])
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
    scores = rng.uniform(0, 1, len(boxes))
    got = nms(torch.from_numpy(boxes), torch.from_numpy(scores), thresh).tolist()
    assert got == ref_nms(boxes, scores, thresh)
    assert len(got) < len(boxes)


@pytest.mark.parametrize("seed", range(5))
def test_batched_nms_is_per_class(seed):
    rng = np.random.default_rng(seed)
    centres = random_boxes(4, rng)
    boxes = np.concatenate([c + rng.normal(0, 3, (10, 4)) for c in centres])
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
    scores = rng.uniform(0, 1, len(boxes))
    classes = rng.integers(0, 3, len(boxes))
    expected = []
    for c in range(3):
        idx = np.nonzero(classes == c)[0]
        expected += [int(idx[i]) for i in ref_nms(boxes[idx], scores[idx], 0.5)]
    got = batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(classes), 0.5)
    assert sorted(got.tolist()) == sorted(expected)
    # kept indices come out highest score first
    assert torch.all(torch.from_numpy(scores)[got].diff() <= 0)


def test_nms_edge_cases():
    empty = torch.zeros(0, 4)
    assert nms(empty, torch.zeros(0), 0.5).numel() == 0
    assert batched_nms(empty, torch.zeros(0), torch.zeros(0, dtype=torch.long), 0.5).numel() == 0
    one = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    assert nms(one, torch.tensor([0.3]), 0.5).tolist() == [0]
    # two identical boxes of different classes both survive class-aware NMS
    two = torch.cat([one, one])
    assert batched_nms(two, torch.tensor([0.9, 0.8]), torch.tensor([0, 1]), 0.5).tolist() == [0, 1]
    assert nms(two, torch.tensor([0.8, 0.9]), 0.5).tolist() == [1]
