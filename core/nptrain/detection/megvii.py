"""Megvii YOLOX state dicts (``Megvii-BaseDetection/YOLOX``, e.g. the released ``yolox_s.pth``) → nptrain's
``yolox_*`` detection presets.

The modules match one to one; only the names differ. Megvii's ``YOLOPAFPN`` holds the backbone as
``backbone.backbone`` and names its PAFPN layers after the paper's figure, and its head keeps one
``ModuleList`` per kind (``stems``, ``cls_convs``, ``cls_preds``…) indexed by level where ours keeps one
module per level. Every BatchNorm is ``bn`` there and ``norm`` here.

The class count is read from the checkpoint's ``cls_preds``; a model with another count then loads
everything but the three class-prediction convs (re-initialised and reported by the loader).
``keep_head=False`` leaves those three convs out: the rest of the head (stems, branches, box and
objectness predictions) does not depend on the classes, so it is kept.
"""
from __future__ import annotations

import re
from typing import Mapping, Optional

import torch

from nptrain.converter_kit import check_layout, classes_in, preset_shapes, rename
from nptrain.errors import ConversionError

PRESETS = ("yolox_nano", "yolox_tiny", "yolox_s", "yolox_m", "yolox_l", "yolox_x")
CLASS_CONV = re.compile(r"^head\.levels\.\d+\.cls_pred\.")

# Megvii PAFPN layer → ours: reduce[i] maps level i+1 to level i's width (top-down), td_fuse[i] fuses it
# with level i, down[i] / bu_fuse[i] take output i one level deeper (bottom-up)
_NECK = {"lateral_conv0": "reduce.1", "C3_p4": "td_fuse.1", "reduce_conv1": "reduce.0", "C3_p3": "td_fuse.0",
         "bu_conv2": "down.0", "C3_n3": "bu_fuse.0", "bu_conv1": "down.1", "C3_n4": "bu_fuse.1"}
_LEAF = r"(weight|bias|running_mean|running_var|num_batches_tracked)"
_BACKBONE = re.compile(r"^backbone\.backbone\.((?:stem|dark[2-5])\..+)$")
_PAFPN = re.compile(r"^backbone\.(" + "|".join(_NECK) + r")\.(.+)$")
_HEAD_BRANCH = re.compile(r"^head\.(stems|cls_convs|reg_convs)\.(\d)\.(.+)$")
_HEAD_PRED = re.compile(rf"^head\.(cls_preds|reg_preds|obj_preds)\.(\d)\.(weight|bias)$")
_BRANCH = {"stems": "stem", "cls_convs": "cls_convs", "reg_convs": "reg_convs"}
_PRED = {"cls_preds": "cls_pred", "reg_preds": "reg_pred", "obj_preds": "obj_pred"}
# inside a conv unit: Megvii's BaseConv is (conv, bn), ours ConvNormAct is (conv, norm)
_BN = re.compile(rf"(^|\.)bn\.{_LEAF}$")


def _inner(path: str) -> Optional[str]:
    """A module path below a layer, with ``bn`` renamed; None unless it ends in a known leaf."""
    if not re.search(rf"(^|\.){_LEAF}$", path):
        return None
    return _BN.sub(r"\1norm.\2", path)


def target_key(key: str) -> Optional[str]:
    """Our key for a Megvii YOLOX key, or None when it has no counterpart."""
    m = _BACKBONE.match(key)
    if m:
        rest = _inner(m.group(1))
        return None if rest is None else f"backbone.{rest}"
    m = _PAFPN.match(key)
    if m:
        rest = _inner(m.group(2))
        return None if rest is None else f"neck.{_NECK[m.group(1)]}.{rest}"
    m = _HEAD_BRANCH.match(key)
    if m:
        rest = _inner(m.group(3))
        return None if rest is None else f"head.levels.{m.group(2)}.{_BRANCH[m.group(1)]}.{rest}"
    m = _HEAD_PRED.match(key)
    if m:
        return f"head.levels.{m.group(2)}.{_PRED[m.group(1)]}.{m.group(3)}"
    return None


def _hint(keys: list[str]) -> str:
    if any(k.startswith("module.") or k.startswith("model.") for k in keys):
        return "; strip the wrapper prefix (module./model.) or save the inner state dict"
    return "; is this a Megvii YOLOX checkpoint (keys backbone.backbone.*, backbone.C3_*, head.*)?"


def from_megvii(state_dict: Mapping[str, torch.Tensor], *, preset: str, keep_head: bool = True) -> dict[str, torch.Tensor]:
    """Convert a Megvii ``YOLOX`` state dict (already unwrapped from ``{'model': …}``) for ``preset``.

    Raises :class:`ConversionError` for any source key without a counterpart, any target key left
    unfilled, any shape mismatch (e.g. a yolox_s file given for yolox_m)."""
    label = f"megvii→{preset}"
    if preset not in PRESETS:
        raise ConversionError(f"{label}: unknown preset; this converter fills {', '.join(PRESETS)}")
    out = rename(state_dict, target_key, label=label, unmapped_hint=_hint)
    num_classes = classes_in(out, "head.levels.0.cls_pred.weight", default=80)
    expected = preset_shapes(preset, task="detection", num_classes=num_classes)
    if not keep_head:
        out = {k: v for k, v in out.items() if not CLASS_CONV.match(k)}
        expected = {k: v for k, v in expected.items() if not CLASS_CONV.match(k)}
    return check_layout(out, expected, label=label, preset=preset)
