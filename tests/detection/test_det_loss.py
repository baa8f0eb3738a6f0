"""yolox_loss and SimOTA: finite on empty/non-empty images, assignment properties, eval-mode
grids, and a tiny YOLOX overfitting one synthetic image."""
from __future__ import annotations

import torch

from nptrain.builtin.detection_params import (
    AnchorFreeDecoupledHeadParams, CSPDarknetParams, YOLOPAFPNParams, YOLOXLossParams,
)
from nptrain.detection.assigner import make_anchors, simota_assign
from nptrain.detection.boxes import box_iou
from nptrain.detection.cspdarknet import build as build_backbone
from nptrain.detection.head import build as build_head
from nptrain.detection.loss import build as build_loss
from nptrain.detection.pafpn import build as build_neck
from nptrain.detection.postprocess import PostProcessConfig, postprocess

SIZE = 64


def tiny_yolox(num_classes: int = 3) -> torch.nn.Sequential:
    torch.manual_seed(0)
    bb = build_backbone(CSPDarknetParams(wid_mul=0.125), [], "detection")
    neck = build_neck(YOLOPAFPNParams(), bb.feature_info)
    return torch.nn.Sequential(bb, neck, build_head(AnchorFreeDecoupledHeadParams(), neck.feature_info, num_classes, "detection"))


def targets_two_boxes():
    return {"boxes": [torch.tensor([[8.0, 10.0, 30.0, 40.0], [36.0, 20.0, 60.0, 52.0]])],
            "classes": [torch.tensor([0, 2])]}


def test_loss_finite_with_empty_and_non_empty_images():
    model = tiny_yolox().train()
    loss_fn = build_loss(YOLOXLossParams(use_l1=True))
    out = model(torch.randn(3, 3, SIZE, SIZE))
    targets = {"boxes": [torch.zeros(0, 4), torch.tensor([[4.0, 4.0, 20.0, 30.0]]), torch.zeros(0, 4)],
               "classes": [torch.zeros(0, dtype=torch.long), torch.tensor([1]), torch.zeros(0, dtype=torch.long)]}
    loss = loss_fn(out, targets)
    assert torch.isfinite(loss) and loss > 0
    assert set(loss_fn.last) == {"iou", "obj", "cls", "l1", "num_fg"} and loss_fn.last["num_fg"] > 0
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    # a batch with no objects at all: only objectness pushes down, still finite
    empty = {"boxes": [torch.zeros(0, 4)] * 3, "classes": [torch.zeros(0, dtype=torch.long)] * 3}
    loss_empty = loss_fn(model(torch.randn(3, 3, SIZE, SIZE)), empty)
    assert torch.isfinite(loss_empty) and loss_fn.last["num_fg"] == 0 and loss_fn.last["iou"] == 0


def test_eval_output_rebuilds_the_grid():
    """Eval mode gives a plain tensor (no anchors); the loss rebuilds the grid from the square
    input or targets['image_size'] and gets the same value."""
    model = tiny_yolox().train()
    out = model(torch.randn(2, 3, SIZE, SIZE))
    targets = {"boxes": [torch.tensor([[8.0, 8.0, 40.0, 40.0]])] * 2, "classes": [torch.tensor([1])] * 2}
    loss_fn = build_loss(YOLOXLossParams())
    with_anchors = loss_fn(out, targets)
    assert torch.equal(loss_fn(out["pred"], targets), with_anchors)
    assert torch.equal(loss_fn(out["pred"], {**targets, "image_size": (SIZE, SIZE)}), with_anchors)


def test_l1_turns_on_at_its_epoch():
    loss_fn = build_loss(YOLOXLossParams(l1_activate_epoch=3))
    assert not loss_fn.l1_active
    loss_fn.set_epoch(3)
    assert loss_fn.l1_active


def test_simota_assigns_each_gt_near_its_centre():
    anchors = make_anchors([(8, 8), (4, 4), (2, 2)], [8, 16, 32])
    n = anchors.shape[0]
    gt = torch.tensor([[4.0, 4.0, 28.0, 28.0], [34.0, 30.0, 62.0, 60.0]])
    # predictions: each anchor predicts a box of its stride around itself; neutral logits
    half = anchors[:, 2:3] * 1.5
    pred = torch.cat((anchors[:, :2] - half, anchors[:, :2] + half), 1)
    a = simota_assign(pred, torch.zeros(n), torch.zeros(n, 2), anchors, gt, torch.tensor([0, 1]))
    assert set(a.matched_gt.tolist()) == {0, 1}
    fg_anchors = anchors[a.fg_mask]
    for g, box in enumerate(gt):
        mine = fg_anchors[a.matched_gt == g]
        # every positive lies inside its gt box (and near its centre, by the 1e5 cost)
        assert ((mine[:, 0] > box[0]) & (mine[:, 0] < box[2]) & (mine[:, 1] > box[1]) & (mine[:, 1] < box[3])).all()
    assert torch.allclose(a.matched_iou, box_iou(pred[a.fg_mask], gt)[torch.arange(len(a.matched_gt)), a.matched_gt])
    none = simota_assign(pred, torch.zeros(n), torch.zeros(n, 2), anchors, torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))
    assert not none.fg_mask.any()


def test_tiny_model_overfits_one_image():
    model = tiny_yolox()
    x = torch.zeros(1, 3, SIZE, SIZE)
    x[0, 0, 10:40, 8:30] = 1.0  # the two objects are visible as coloured rectangles
    x[0, 1, 20:52, 36:60] = 1.0
    targets = targets_two_boxes()
    loss_fn = build_loss(YOLOXLossParams())
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    model.train()
    for _ in range(100):
        loss = loss_fn(model(x), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.25 * losses[0], losses[::10]
    # with a single image BatchNorm's running statistics cannot match its batch statistics, so the
    # check reads the training-mode output (the post-processing accepts the dict)
    with torch.no_grad():
        dets = postprocess(model(x), PostProcessConfig(score_thresh=0.3, iou_thresh=0.5))[0]
    gt = targets["boxes"][0]
    for g, cls in enumerate(targets["classes"][0].tolist()):
        same = dets.classes == cls
        assert same.any(), f"class {cls} not detected: {dets}"
        best = box_iou(gt[g:g + 1], dets.boxes[same]).max()
        assert best > 0.5, f"gt {g}: best IoU {float(best):.2f}"
        # the highest-scored detection of that class is the good one
        assert float(box_iou(gt[g:g + 1], dets.boxes[same][:1])) > 0.5


def test_l1_target_encoding_inverts_the_head_decoding():
    """The L1 term compares raw offsets: encoding the decoded boxes against the training output's anchors
    (cell centres) gives back exactly the raw maps the head produced (YOLOX's corner grid, no half cell)."""
    from nptrain.detection.loss import _encode

    model = tiny_yolox().train()
    raw = []
    hooks = [level.register_forward_hook(lambda _m, _i, out: raw.append(out)) for level in model[2].levels]
    out = model(torch.randn(2, 3, SIZE, 96))
    for hook in hooks:
        hook.remove()
    offsets = torch.cat([r[:, :4].flatten(2) for r in raw], dim=2).permute(0, 2, 1)  # (B, N, 4)
    for b in range(2):
        assert torch.allclose(_encode(out["pred"][b, :, :4], out["anchors"]), offsets[b], atol=1e-4)
