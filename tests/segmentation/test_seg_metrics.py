"""mIoU / pixel accuracy / per-class IoU against hand-computed answers, and DDP reduction."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nptrain.training.metrics import SegmentationMetric, format_class_table

# 3 classes; one ignored pixel (255) whose prediction (0) must not count anywhere
MASKS = torch.tensor([[[0, 0, 1, 1], [2, 2, 255, 1]]])
PREDS = torch.tensor([[[0, 1, 1, 1], [2, 0, 0, 1]]])
# confusion (rows true, cols pred): [[1, 1, 0], [0, 3, 0], [1, 0, 1]]
# IoU0 = 1 / (2 + 2 - 1) = 1/3, IoU1 = 3 / (3 + 4 - 3) = 3/4, IoU2 = 1 / (2 + 1 - 1) = 1/2
IOUS = [1 / 3, 3 / 4, 1 / 2]


def _logits(pred: torch.Tensor, c: int) -> torch.Tensor:
    return F.one_hot(pred, c).permute(0, 3, 1, 2).float()


def test_known_confusion_matrix():
    m = SegmentationMetric(3)
    m.update(_logits(PREDS, 3), {"masks": MASKS}, loss=0.5)
    assert m.confusion().tolist() == [[1, 1, 0], [0, 3, 0], [1, 0, 1]]
    assert m.per_class_iou() == pytest.approx(IOUS)
    out = m.compute()
    assert out["miou"] == pytest.approx(19 / 36)
    assert out["pixel_accuracy"] == pytest.approx(5 / 7)
    assert out["loss"] == pytest.approx(0.5)
    det = m.details(["bg", "a", "b"])
    assert det["per_class_iou"] == pytest.approx({"bg": 1 / 3, "a": 3 / 4, "b": 1 / 2})
    assert det["per_class_pixels"] == {"bg": 2, "a": 3, "b": 2}
    table = format_class_table(det).splitlines()
    assert table[0].split() == ["class", "IoU", "pixels"] and table[2].split() == ["bg", "0.3333", "2"]


def test_absent_class_is_left_out_of_the_mean():
    m = SegmentationMetric(4)  # class 3 is neither in the masks nor predicted
    m.update(_logits(PREDS, 4), {"masks": MASKS}, loss=0.0)
    assert m.per_class_iou()[3] is None
    assert m.compute()["miou"] == pytest.approx(19 / 36)
    assert "-" in m.table(["a", "b", "c", "d"]).splitlines()[-1]


def test_batches_accumulate_like_one_batch():
    gen = torch.Generator().manual_seed(0)
    masks = torch.randint(0, 4, (6, 9, 7), generator=gen)
    masks[masks == 3] = 255
    preds = torch.randint(0, 3, (6, 9, 7), generator=gen)
    whole, parts = SegmentationMetric(3), SegmentationMetric(3)
    whole.update(_logits(preds, 3), {"masks": masks}, 1.0)
    for i in range(0, 6, 2):
        parts.update(_logits(preds[i:i + 2], 3), {"masks": masks[i:i + 2]}, 1.0)
    assert torch.equal(whole.state(), parts.state())


WORKER = """
import os, sys
import torch
import torch.distributed as dist
import torch.nn.functional as F
from nptrain.training.metrics import SegmentationMetric

rank, port = int(sys.argv[1]), sys.argv[2]
dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
gen = torch.Generator().manual_seed(0)
masks = torch.randint(0, 3, (4, 5, 6), generator=gen)
masks[0, 0] = 255
preds = torch.randint(0, 3, (4, 5, 6), generator=gen)
m = SegmentationMetric(3)
# rank 0 sees samples 0-2, rank 1 sample 3: uneven shards like the validation sampler's
sl = slice(0, 3) if rank == 0 else slice(3, 4)
m.update(F.one_hot(preds[sl], 3).permute(0, 3, 1, 2).float(), {"masks": masks[sl]}, 0.0)
m.reduce()
single = SegmentationMetric(3)
single.update(F.one_hot(preds, 3).permute(0, 3, 1, 2).float(), {"masks": masks}, 0.0)
assert torch.equal(m.confusion(), single.confusion()), (m.confusion(), single.confusion())
assert m.compute()["miou"] == single.compute()["miou"]
print("ok", rank)
dist.destroy_process_group()
"""


def test_ddp_reduced_confusion_equals_single_process(two_ranks):
    two_ranks(WORKER)
