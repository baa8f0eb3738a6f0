"""Distillation losses and pairing in isolation: Hinton KD against torch's KL, the segmentation ignore
mask, stride pairing, and detection feature distillation through 1x1 projections onto a pruned student."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from nptrain.config.distillation_section import DistillationConfig, FeaturePair
from nptrain.errors import UserError
from nptrain.training.distill import Distiller, auto_pairs, kd_logits_loss, segmentation_kd_loss


def test_kd_logits_is_kl_at_temperature_times_t_squared():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(6, 10, generator=g), torch.randn(6, 10, generator=g) * 3
    for T in (1.0, 4.0):
        expected = F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean") * T * T
        assert torch.allclose(kd_logits_loss(s, t, T), expected, atol=1e-6)
    assert float(kd_logits_loss(t, t, 4.0)) == pytest.approx(0.0, abs=1e-6)
    # the T² factor keeps the gradient's scale: d/ds = T * (softmax(s/T) - softmax(t/T)) / B
    s.requires_grad_(True)
    kd_logits_loss(s, t, 4.0).backward()
    assert torch.allclose(s.grad, 4.0 * (F.softmax(s.detach() / 4, 1) - F.softmax(t / 4, 1)) / 6, atol=1e-6)


def test_segmentation_kd_leaves_out_ignored_pixels_and_resizes_the_teacher():
    g = torch.Generator().manual_seed(1)
    s, t = torch.randn(2, 4, 8, 8, generator=g), torch.randn(2, 4, 8, 8, generator=g)
    masks = torch.randint(0, 4, (2, 8, 8), generator=g)
    masks[:, :4] = 255
    loss = segmentation_kd_loss(s, t, 2.0, masks, 255)
    # the same value from the kept pixels alone, as a (pixels, classes) batch
    keep = masks != 255
    flat = lambda x: x.permute(0, 2, 3, 1)[keep]  # noqa: E731
    assert torch.allclose(loss, kd_logits_loss(flat(s), flat(t), 2.0), atol=1e-6)
    wild = s.clone()
    wild[:, :, :4] = 1e3 * torch.randn(2, 4, 4, 8, generator=g)  # anything at ignored pixels changes nothing
    assert torch.equal(segmentation_kd_loss(wild, t, 2.0, masks, 255), loss)
    assert float(segmentation_kd_loss(s, t, 2.0, torch.full_like(masks, 255), 255)) == 0.0
    small = F.interpolate(t, size=(4, 4), mode="bilinear", align_corners=False)  # a teacher at another resolution
    resized = F.interpolate(small, size=(8, 8), mode="bilinear", align_corners=False)
    assert torch.allclose(segmentation_kd_loss(s, small, 2.0, masks, 255), segmentation_kd_loss(s, resized, 2.0, masks, 255))


def test_auto_pairs_by_stride():
    assert auto_pairs((4, 8, 16, 32), (8, 16, 32)) == [(1, 0), (2, 1), (3, 2)]
    assert auto_pairs((8, 8, 16), (8, 16, 16)) == [(1, 0), (2, 2)]  # the deepest feature of each stride
    assert auto_pairs((None,), (None,)) == [(0, 0)]  # ViT class tokens
    assert auto_pairs((4, 8), (16, 32)) == []


def _yolox(width: float):
    from nptrain.config.loader import load_config
    from nptrain.modeling.builder import build_loss, build_model

    loaded = load_config({"model": {"name": "yolox_nano", "task": "detection",
                                    "architecture": {"backbone": {"params": {"wid_mul": width}}}}}, check_files=False)
    return build_model(loaded.resolved, 3, name="yolox_nano"), build_loss(loaded.resolved)


def test_detection_feature_distillation_projects_a_narrower_student():
    """A yolox_nano at half width (what pruning at 0.5 leaves) learns from the full one: neck outputs
    paired by stride (8, 16, 32) through 1x1 projections to the teacher's channels; gradients reach the
    projections and the student, never the teacher, which stays in eval mode."""
    from nptrain.teacher import freeze

    torch.manual_seed(0)
    teacher, _ = _yolox(0.25)
    student, criterion = _yolox(0.125)
    x = torch.randn(2, 3, 64, 64)
    freeze(teacher)
    dist = Distiller(student, teacher, DistillationConfig(teacher="unused", weight=0.5), "detection", probe=x[:1])
    assert dist.kind == "features" and dist.pairs == [(0, 0), (1, 1), (2, 2)]
    assert [(p.in_channels, p.out_channels) for p in dist.projections] == \
        list(zip(student.neck.feature_info.channels, teacher.neck.feature_info.channels)) == [(32, 64), (64, 128), (128, 256)]
    student.train()
    teacher.train()  # a no-op: the teacher stays in eval mode
    assert not any(m.training for m in teacher.modules())
    targets = {"boxes": [torch.tensor([[4.0, 4.0, 30.0, 40.0]])] * 2, "classes": [torch.tensor([1])] * 2,
               "image_size": (64, 64)}
    out = student(x)
    loss = dist.mix(criterion(out, targets), out, x, targets)
    assert dist.last["feat"] > 0 and set(dist.last) == {"task", "feat"}
    assert torch.allclose(loss, torch.tensor(0.5 * dist.last["task"] + 0.5 * dist.last["feat"]), rtol=1e-5)
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in dist.parameters())
    assert all(p.grad is None for p in teacher.parameters())
    assert all(p.grad is not None for p in student.neck.parameters())
    # what the training state keeps: exactly the projections' weights
    assert set(dist.state_dict()) == {n for n, _ in dist.projections.named_parameters()}


def test_explicit_pairs_out_of_range_is_a_clear_error():
    from nptrain.modeling.api import create_model

    model = create_model("simple_cnn", task="classification", num_classes=3)
    teacher = copy.deepcopy(model)
    cfg = DistillationConfig(teacher="unused", kind="features", feature_pairs=[FeaturePair(student=0, teacher=7)])
    with pytest.raises(UserError, match=r"feature_pairs\.0\.teacher: index 7 is out of range"):
        Distiller(model, teacher, cfg, "classification", probe=torch.randn(1, 3, 32, 32))
