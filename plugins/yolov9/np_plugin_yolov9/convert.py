"""The original YOLOv9 state dicts (WongKinYiu's YOLO as MultimediaTechLab/YOLO builds it from
``yolo/config/model/v9-{t,s,m,c}.yaml``: its released ``v9-*.pt`` weights) → nptrain's layout.

The original is one flat list of layers, ``model.<i>``: 0 the stem conv, 1-8 the four GELAN stages (a down-step and
an ELAN each), 9-21 the neck (SPPELAN, then the fusions and down-steps in yolov9fpn's order; upsamples and concats
have no weights), 22 the Main detection head, and from 23 on the auxiliary branch (PGI), which only trains: it is
dropped, as NetsPresso Trainer builds no auxiliary branch either. Inside a layer the names agree but for three
spellings: a conv-norm unit's ``conv`` / ``bn`` are ``block.conv`` / ``block.norm`` here, AConv's conv is
``layers.1``, RepNCSP's ``bottleneck`` is ``m``, and the head's ``anchor_conv`` / ``class_conv`` / ``anc2vec`` are
``reg_convs`` / ``cls_convs`` / ``anchor2vec``. The presets are these models exactly (parameter counts equal)."""
from __future__ import annotations

import re
from typing import Mapping, Optional

import torch

from nptrain.converter_kit import convert_by_rule

# the original's layer index -> our module
LAYERS = {0: "backbone.conv_stem", 1: "backbone.stages.0.0", 2: "backbone.stages.0.1", 3: "backbone.stages.1.0",
          4: "backbone.stages.1.1", 5: "backbone.stages.2.0", 6: "backbone.stages.2.1", 7: "backbone.stages.3.0",
          8: "backbone.stages.3.1", 9: "neck.spp_block", 12: "neck.td_fusion_block_1", 15: "neck.td_fusion_block_2",
          16: "neck.bu_conv_p3_to_p4", 18: "neck.bu_fusion_block_1", 19: "neck.bu_conv_p4_to_p5",
          21: "neck.bu_fusion_block_2", 22: "head"}
MAIN_HEAD = 22
_HEAD = {"anchor_conv": "reg_convs", "class_conv": "cls_convs", "anc2vec.anc2vec": "anchor2vec.anchor2vec"}


def _inner(rest: str) -> str:
    """A key below an original layer → ours below the same module."""
    rest = re.sub(r"^conv\.(conv|bn)\.", r"layers.1.\1.", rest) if rest.startswith("conv.conv.") or \
        rest.startswith("conv.bn.") else rest  # AConv's one conv
    rest = rest.replace(".bottleneck.", ".m.")
    for theirs, ours in _HEAD.items():
        rest = re.sub(rf"^(heads\.\d+\.){re.escape(theirs)}\.", rf"\g<1>{ours}.", rest)
    rest = re.sub(r"(^|\.)conv\.(weight|bias)$", r"\1block.conv.\2", rest)
    return re.sub(r"(^|\.)bn\.(\w+)$", r"\1block.norm.\2", rest)


def _target(key: str) -> Optional[str]:
    m = re.fullmatch(r"model\.(\d+)\.(.+)", key)
    if not m or int(m[1]) not in LAYERS:
        return None
    return f"{LAYERS[int(m[1])]}.{_inner(m[2])}"


def from_original(state_dict: Mapping[str, torch.Tensor], *, preset: str, keep_head: bool = True) -> dict:
    """Convert an original YOLOv9 state dict for ``preset`` (``yolov9_tiny`` … ``yolov9_c``), its auxiliary branch
    dropped; any other unmapped, unfilled or misshapen key raises (a file of another size says so)."""
    state = {k: v for k, v in state_dict.items()
             if not (re.match(r"model\.(\d+)\.", k) and int(k.split(".")[1]) > MAIN_HEAD)}
    return convert_by_rule(state, _target, source="yolov9", preset=preset, keep_head=keep_head, task="detection",
                           classifier_key="head.heads.0.cls_convs.2.weight")
