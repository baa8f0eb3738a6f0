"""The original YOLO-FastestV2 files (dog-qiuqiu/Yolo-FastestV2: a trained ``Detector``'s state dict, e.g.
``modelzoo/coco2017-0.241078ap-model.pth``, or its ImageNet ``model/backbone/backbone.pth``) → nptrain's layout.

The original keeps plain ``nn.Sequential`` layers (``first_conv.0`` / ``.1``, ``branch_main.0 … 6``) where NetsPresso
wraps each conv-norm as ``block.conv`` / ``block.norm``; its two head towers per level live in ``fpn.{cls,reg}_head_
{2,3}`` (one ``DWConvblock`` each: two depthwise-pointwise pairs), and its three output convs are shared by both
levels (``output_{reg,obj,cls}_layers``) where NetsPresso's head has one per level: the converter copies them into
both (so the model has 6,935 more parameters at 80 classes, the same function). A file holding only the backbone
(no ``backbone.`` prefix) converts to the backbone's keys, which ``checkpoint: yolofastest:FILE`` loads into the
backbone alone, the neck and head starting fresh.

The original decodes its boxes as YOLOv5 does and its classes with a softmax; NetsPresso's head decodes otherwise,
so a converted detector keeps the original's boxes only with the head's ``box_coding: original``."""
from __future__ import annotations

import re
from typing import Mapping, Optional

import torch

from nptrain.converter_kit import check_layout, classes_in, drop_head, preset_shapes, rename

_MAIN = {0: (0, "conv"), 1: (0, "norm"), 3: (1, "conv"), 4: (1, "norm"), 5: (2, "conv"), 6: (2, "norm")}
_PROJ = {0: (0, "conv"), 1: (0, "norm"), 2: (1, "conv"), 3: (1, "norm")}
# DWConvblock.block: depthwise conv, BN, ReLU, pointwise conv, BN, then the same again
_TOWER = {0: (0, "depthwise", "conv"), 1: (0, "depthwise", "norm"), 3: (0, "pointwise", "conv"),
          4: (0, "pointwise", "norm"), 5: (1, "depthwise", "conv"), 6: (1, "depthwise", "norm"),
          8: (1, "pointwise", "conv"), 9: (1, "pointwise", "norm")}
_OUTPUTS = {"output_reg_layers": "reg_head.bbox_reg", "output_obj_layers": "cls_head.obj",
            "output_cls_layers": "cls_head.cls_logits"}
CLASSIFIER = "head.cls_head.cls_logits.0.weight"


def _target(key: str) -> Optional[str]:
    m = re.fullmatch(r"backbone\.first_conv\.([01])\.(.+)", key)
    if m:
        return f"backbone.conv1.block.{'conv' if m[1] == '0' else 'norm'}.{m[2]}"
    m = re.fullmatch(r"backbone\.(stage\d\.\d+)\.(branch_main|branch_proj)\.(\d+)\.(.+)", key)
    if m:
        place = (_MAIN if m[2] == "branch_main" else _PROJ).get(int(m[3]))
        return f"backbone.{m[1]}.{m[2]}.{place[0]}.block.{place[1]}.{m[4]}" if place else None
    m = re.fullmatch(r"fpn\.conv1x1_([23])\.([01])\.(.+)", key)
    if m:
        return f"neck.conv_C{m[1]}.block.{'conv' if m[2] == '0' else 'norm'}.{m[3]}"
    m = re.fullmatch(r"fpn\.(cls|reg)_head_([23])\.block\.(\d+)\.(.+)", key)
    if m and int(m[3]) in _TOWER:
        sep, part, layer = _TOWER[int(m[3])]
        return f"head.{m[1]}_head.layer.{int(m[2]) - 2}.{sep}.{part}.block.{layer}.{m[4]}"
    m = re.fullmatch(r"(output_\w+_layers)@(\d)\.(weight|bias)", key)
    if m and m[1] in _OUTPUTS:
        return f"head.{_OUTPUTS[m[1]]}.{m[2]}.{m[3]}"
    return None


def _levels_copied(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The shared output convs as one copy per level (``output_reg_layers@0.weight``, ``@1``), and a backbone-only
    file under ``backbone.``."""
    if state and not any(k.startswith(("backbone.", "fpn.", "output_")) for k in state):
        state = {f"backbone.{k}": v for k, v in state.items()}
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        m = re.fullmatch(r"(output_\w+_layers)\.(weight|bias)", key)
        if m:
            for level in (0, 1):
                out[f"{m[1]}@{level}.{m[2]}"] = value.clone()
        else:
            out[key] = value
    return out


def from_yolofastest(state_dict: Mapping[str, torch.Tensor], *, preset: str, keep_head: bool = True) -> dict:
    """Convert an original YOLO-FastestV2 state dict (a whole detector, or its backbone alone) for ``preset``; any
    unmapped, unfilled or misshapen key raises."""
    label = f"yolofastest→{preset}"
    state = _levels_copied(state_dict)
    out = rename(state, _target, label=label)
    expected = preset_shapes(preset, task="detection", num_classes=classes_in(out, CLASSIFIER, default=80))
    if not any(k.startswith(("neck.", "head.")) for k in out):  # the ImageNet backbone file
        expected = {k: v for k, v in expected.items() if k.startswith("backbone.")}
    return check_layout(drop_head(out, keep_head), drop_head(expected, keep_head), label=label, preset=preset)
