"""Boxes follow every geometric transform (checked against a mask of the same object carried through
the same pipeline), crops drop boxes that leave them, predict's geometry inverse is exact, and the
loader keeps per-image box lists."""
from __future__ import annotations

import pytest
import torch

from nptrain.data import box_geometry as geo
from nptrain.data.loader import collate
from nptrain.data.transforms import (
    CenterCrop, Compose, Pad, RandomCrop, RandomHorizontalFlip, RandomResizedCrop, RandomVerticalFlip, Resize,
)

IDENTITY = torch.tensor([1.0, 1.0, 0.0, 0.0])


def _scene(h: int = 60, w: int = 90) -> tuple[torch.Tensor, dict]:
    """An image with two filled rectangles; the mask marks them (ids 1, 2), the boxes bound them."""
    image = torch.zeros(3, h, w)
    mask = torch.zeros(h, w, dtype=torch.long)
    boxes = torch.tensor([[10.0, 5.0, 40.0, 25.0], [50.0, 30.0, 85.0, 58.0]])
    for i, (x1, y1, x2, y2) in enumerate(boxes.long().tolist()):
        mask[y1:y2, x1:x2] = i + 1
        image[:, y1:y2, x1:x2] = 1.0
    return image, {"mask": mask, "boxes": boxes, "classes": torch.tensor([3, 7])}


def _mask_box(mask: torch.Tensor, k: int) -> list[float]:
    ys, xs = torch.nonzero(mask == k, as_tuple=True)
    return [float(xs.min()), float(ys.min()), float(xs.max()) + 1, float(ys.max()) + 1]


def _agree(target: dict, tol: float) -> None:
    """Each surviving box bounds its object's mask pixels (ids are 1 + the original index)."""
    for box, cls in zip(target["boxes"].tolist(), target["classes"].tolist()):
        k = {3: 1, 7: 2}[cls]
        assert box == pytest.approx(_mask_box(target["mask"], k), abs=tol), (box, cls)


def test_resize_scales_boxes():
    image, target = _scene()
    out_img, out = Resize(size=[30, 180], interpolation="nearest")(image, target, torch.Generator())
    assert out_img.shape[-2:] == (30, 180)
    assert out["boxes"].tolist() == [[20.0, 2.5, 80.0, 12.5], [100.0, 15.0, 170.0, 29.0]]
    assert out["classes"].tolist() == [3, 7]


@pytest.mark.parametrize("flip,expected", [
    (RandomHorizontalFlip(p=1.0), [[50.0, 5.0, 80.0, 25.0], [5.0, 30.0, 40.0, 58.0]]),
    (RandomVerticalFlip(p=1.0), [[10.0, 35.0, 40.0, 55.0], [50.0, 2.0, 85.0, 30.0]]),
])
def test_flips_mirror_boxes(flip, expected):
    image, target = _scene()
    _, out = flip(image, target, torch.Generator())
    assert out["boxes"].tolist() == expected
    _agree(out, 0)


def test_pad_shifts_and_crop_clips_and_drops():
    image, target = _scene()
    _, padded = Pad(size=[80, 100], center=True)(image, target, torch.Generator())  # 5 px left, 10 px on top
    assert padded["boxes"].tolist() == [[15.0, 15.0, 45.0, 35.0], [55.0, 40.0, 90.0, 68.0]]
    _agree(padded, 0)
    # a 40x40 centre crop of the 60x90 image: window x 25..65, y 10..50
    _, cropped = CenterCrop(size=40)(image, target, torch.Generator())
    # box 1 keeps x 25..40 (15 of 30 px wide) and y 10..25 (15 of 20): 37.5 % of its area → kept, clipped;
    # box 2 keeps x 50..65 (15 of 35) and y 30..50 (20 of 28): 30.6 % → kept
    assert cropped["boxes"].tolist() == [[0.0, 0.0, 15.0, 15.0], [25.0, 20.0, 40.0, 40.0]]
    _agree(cropped, 0)
    # window x 30..70, y 20..60: box 1 keeps 10 x 5 px of 30 x 20 (8 %) → dropped with its class
    out = geo.crop(target, 20, 30, 40, 40)
    assert out["boxes"].tolist() == [[20.0, 10.0, 40.0, 38.0]] and out["classes"].tolist() == [7]


def test_empty_targets_pass_through_every_transform():
    image = torch.rand(3, 50, 70)
    target = {"boxes": torch.zeros(0, 4), "classes": torch.zeros(0, dtype=torch.long)}
    pipeline = Compose([RandomResizedCrop(size=32, scale=[0.3, 1.0]), RandomHorizontalFlip(p=1.0),
                        RandomCrop(size=40), Pad(size=48)])
    out_img, out = pipeline(image, target, torch.Generator().manual_seed(0))
    assert out_img.shape[-2:] == (48, 48) and out["boxes"].shape == (0, 4) and out["classes"].shape == (0,)


@pytest.mark.parametrize("seed", range(12))
def test_random_pipelines_keep_boxes_on_their_objects(seed):
    """Random crop/resize/flip chains: boxes stay within a pixel of the mask pixels they label,
    inside the image, and every object whose box survives still has mask pixels."""
    image, target = _scene()
    pipeline = Compose([RandomResizedCrop(size=[48, 64], scale=[0.3, 1.0], interpolation="nearest"),
                        RandomHorizontalFlip(p=0.5), RandomVerticalFlip(p=0.5), RandomCrop(size=40), Pad(size=[44, 50])])
    out_img, out = pipeline(image, target, torch.Generator().manual_seed(seed))
    h, w = out_img.shape[-2:]
    assert out["boxes"].shape[0] == out["classes"].shape[0]
    if out["boxes"].numel():
        assert bool((out["boxes"][:, 0::2] >= 0).all() and (out["boxes"][:, 0::2] <= w).all())
        assert bool((out["boxes"][:, 1::2] >= 0).all() and (out["boxes"][:, 1::2] <= h).all())
    _agree(out, 1.5)  # nearest resampling of the mask moves its edge by up to a source pixel


def test_letterbox_geometry_inverts_exactly():
    """Resize the long side to 64 (keeping the ratio) and pad centred to 64x64, as a letterbox; the
    tracked affine maps boxes found on the model input back onto the original picture."""
    image, target = _scene(60, 90)
    pipeline = Compose([Resize(size=64, resize_criteria="long"), Pad(size=64, center=True)])
    out_img, out = pipeline(image, {**target, "affine": IDENTITY.clone()}, torch.Generator())
    assert out_img.shape[-2:] == (64, 64)
    # 90 → 64 columns; 60 → round(42.67) = 43 rows, so y scales by 43/60; 21 rows of padding, 10 on top
    assert out["affine"].tolist() == pytest.approx([64 / 90, 43 / 60, 0.0, 10.0])
    back = geo.invert_boxes(out["boxes"], out["affine"])
    torch.testing.assert_close(back, target["boxes"], atol=1e-4, rtol=0)


def test_flip_in_the_pipeline_is_inverted_too():
    image, target = _scene()
    pipeline = Compose([RandomHorizontalFlip(p=1.0), Resize(size=[30, 45])])
    _, out = pipeline(image, {**target, "affine": IDENTITY.clone()}, torch.Generator())
    torch.testing.assert_close(geo.invert_boxes(out["boxes"], out["affine"]), target["boxes"], atol=1e-4, rtol=0)


def test_collate_keeps_box_lists_even_for_equal_counts():
    sample = lambda n: (torch.zeros(3, 8, 8), {"boxes": torch.zeros(n, 4), "classes": torch.zeros(n, dtype=torch.long),  # noqa: E731
                                               "image_size": torch.tensor([8, 8])})
    images, target = collate([sample(2), sample(0), sample(3)])
    assert images.shape == (3, 3, 8, 8)
    assert [b.shape[0] for b in target["boxes"]] == [2, 0, 3] and isinstance(target["classes"], list)
    assert target["image_size"].tolist() == [[8, 8]] * 3
    _, same = collate([sample(1), sample(1)])
    assert isinstance(same["boxes"], list)  # never stacked, whatever the counts
