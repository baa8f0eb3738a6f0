"""np-plugin-yolofastest against its definitions: the channel shuffle, the head's raw layout and decoding, the loss
on both output forms (the validation loss rebuilds the anchor points the training output carries), NetsPresso's
post-processor ``anchors``, located errors, and a short training run that must find the shapes."""
from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pytest
import torch

import nptrain
from nptrain.config.loader import load_config
from nptrain.errors import ConfigError

from np_plugin_yolofastest.backbone import ShuffleV2Block
from np_plugin_yolofastest.loss import YOLOFastestLoss
from np_plugin_yolofastest.params import YOLOFastestLossParams, _default_anchors


def _yaml(tmp_path: Path, text: str, name: str = "m.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def test_stride_one_block_passes_even_channels_and_transforms_odd_ones():
    """ShuffleNetV2's split as the original writes it (reshape to channel pairs, permute, take the halves) is our
    even / odd slicing."""
    torch.manual_seed(0)
    block = ShuffleV2Block(8, 16, 1).eval()
    x = torch.randn(2, 16, 5, 5)
    b, c, h, w = x.shape
    pairs = x.reshape(b * c // 2, 2, h * w).permute(1, 0, 2).reshape(2, -1, c // 2, h, w)
    with torch.no_grad():
        expected = torch.cat((pairs[0], block.branch_main(pairs[1])), dim=1)
        torch.testing.assert_close(block(x), expected, rtol=0, atol=0)


def test_head_layout_and_decoding():
    """Raw maps are (B, A, 4 + 1 + C, h, w) with the class logits repeated per anchor; eval rows decode
    cx = (sigmoid(tx) + col) * stride and w = 2 (tanh(tw / 2 - 0.549306) + 1) anchor_w, keeping obj and classes."""
    torch.manual_seed(0)
    model = nptrain.create_model("yolo_fastest_v2", num_classes=3).eval()
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        features = model.neck(model.backbone(x))
        raw = model.head.raw_levels(features)
        out = model.head(features)
    assert [tuple(r.shape) for r in raw] == [(1, 3, 8, 6, 6), (1, 3, 8, 3, 3)]
    assert torch.equal(raw[0][:, 0, 5:], raw[0][:, 2, 5:])  # one set of class logits for the three anchors
    assert out.shape == (1, 3 * 36 + 3 * 9, 8)
    level, anchor, row, col, stride = 1, 2, 1, 2, 32
    t = raw[level][0, anchor, :, row, col]
    aw, ah = _default_anchors()[level][2 * anchor: 2 * anchor + 2]
    expected = torch.stack([(t[0].sigmoid() + col) * stride, (t[1].sigmoid() + row) * stride,
                            2 * (torch.tanh(t[2] / 2 - 0.549306) + 1) * aw,
                            2 * (torch.tanh(t[3] / 2 - 0.549306) + 1) * ah])
    got = out[0, 3 * 36 + anchor * 9 + row * 3 + col]
    torch.testing.assert_close(got[:4], expected)
    torch.testing.assert_close(got[4:], t[4:])


def test_loss_rebuilds_the_training_anchor_points_for_a_validation_loss():
    torch.manual_seed(0)
    model = nptrain.create_model("yolo_fastest_v2", num_classes=3)
    x = torch.randn(2, 3, 96, 96)
    targets = {"boxes": [torch.tensor([[10.0, 12.0, 60.0, 70.0]]), torch.zeros(0, 4)],
               "classes": [torch.tensor([2]), torch.zeros(0, dtype=torch.long)], "image_size": (96, 96)}
    loss = YOLOFastestLoss(YOLOFastestLossParams())
    train_out = model.train()(x)
    rebuilt = loss._anchor_points(train_out["pred"].shape[1], (96, 96), x.device)
    assert torch.equal(rebuilt, train_out["anchors"])
    total = loss(train_out, targets)
    assert math.isfinite(total.item()) and loss.last["num_fg"] > 0
    total.backward()
    assert model.head.reg_head.bbox_reg[0].weight.grad.abs().sum() > 0
    with torch.no_grad():
        assert math.isfinite(loss(model.eval()(x), targets).item())
    with pytest.raises(ValueError, match="give the loss the head's anchors"):
        YOLOFastestLoss(YOLOFastestLossParams(anchors=[[10.0, 10.0], [20.0, 20.0]]))._anchor_points(
            train_out["pred"].shape[1], (96, 96), x.device)


CONFIG = """
model:
  task: detection
  name: yolo_fastest_v2
  checkpoint: {{use_pretrained: False, load_head: False, path: ~, optimizer_path: ~}}
  architecture:
    backbone: {{name: shufflenetv2, params: {{model_size: 0.5x}}, stage_params: ~}}
    neck: {{name: lightfpn, params: {{out_channels: 72}}}}
    head:
      name: yolo_fastest_head_v2
      params:
        anchors: {head_anchors}
  postprocessor:
    params: {{score_thresh: 0.01, nms_thresh: 0.65, anchors: {post_anchors}, class_agnostic: False}}
  losses:
    - {{criterion: yolofastest_loss, anchors: {head_anchors}, l1_activate_epoch: ~, weight: ~}}
"""
ANCHORS = "[[12., 18., 37., 49., 52., 132.], [115., 73., 119., 199., 242., 238.]]"


def test_netspresso_postprocessor_anchors_must_be_the_heads(tmp_path):
    same = _yaml(tmp_path, CONFIG.format(head_anchors=ANCHORS, post_anchors=ANCHORS))
    model = load_config([str(same)]).unstructure()["model"]
    assert "anchors" not in (model.get("postprocessor") or {}).get("params", {})
    other = _yaml(tmp_path, CONFIG.format(head_anchors=ANCHORS, post_anchors="[[10., 10.], [20., 20.]]"), "o.yaml")
    with pytest.raises(ConfigError) as err:
        load_config([str(other)])
    assert f"{other}:13:" in str(err.value) and "anchors" in str(err.value) and "differs from the head's" \
        in str(err.value), err.value


def test_uneven_anchor_lists_are_located(tmp_path):
    uneven = "[[12., 18., 37.], [115., 73.]]"
    bad = _yaml(tmp_path, CONFIG.format(head_anchors=uneven, post_anchors=uneven))
    with pytest.raises(ConfigError) as err:
        load_config([str(bad)])
    text = str(err.value)
    assert f"{bad}:" in text and "anchors: one list per feature level of anchor sizes as [w1, h1, w2, h2, …]" in text


# yolo_fastest_v2 on the built-in shapes (192 images, 128 px, batch 8, AdamW 0.02, cosine, anchors fitted to the
# 12-64 px shapes): mAP50 0.16 / 0.21 / 0.22 / 0.27 after epochs 5-8 of an 8-epoch run (57 s on 2 cores); 0.29 after
# 10 epochs; with NetsPresso's COCO anchors (for 352-640 px inputs) and AdamW 0.005, 0.11 after 10 (measured).
# A 0.25M-parameter model from scratch: slower than yolov9_tiny (0.44 in 4 epochs); untrained: 0
MIN_MAP50 = 0.15
SHAPE_ANCHORS = [[12.0, 12.0, 20.0, 28.0, 32.0, 20.0], [36.0, 36.0, 48.0, 56.0, 64.0, 40.0]]


@pytest.mark.slow
def test_yolo_fastest_v2_learns_shapes(tmp_path):
    from nptrain.testing.learning import shapes_detection_run

    model = {"name": "yolo_fastest_v2",
             "architecture": {"head": {"name": "yolo_fastest_head_v2", "params": {"anchors": SHAPE_ANCHORS}}},
             "losses": [{"criterion": "yolofastest_loss", "anchors": SHAPE_ANCHORS}]}
    summary = shapes_detection_run(tmp_path, model, size=128, epochs=8, lr=0.02)
    assert summary["best"]["metrics"]["valid_map50"] >= MIN_MAP50, summary["best"]
