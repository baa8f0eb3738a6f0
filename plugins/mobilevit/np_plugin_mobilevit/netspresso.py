"""NetsPresso Trainer 1.x's MobileViT checkpoint keys onto ours (:mod:`nptrain.netspresso_weights`).

NetsPresso names the stem ``patch_embed.conv``, the stages ``encoder.blocks.S.B`` (inverted residuals as
``block.K``, MobileViT blocks as ``local_rep`` / ``global_rep`` / ``proj`` / ``fusion``), wraps every conv + BN
pair in ``block``, and keeps separate ``query`` / ``key`` / ``value`` projections where ours fuses them into one
``qkv`` (concatenated in that order, as mlcvnets' ``qkv_proj``)."""
from __future__ import annotations

import re
from collections import Counter
from typing import Mapping, Sequence, Union

from nptrain.converter_rules import Concat

_IR_LAYERS = {3: ("expand", "dwconv", "project"), 2: ("dwconv", "project")}
_QKV = {"query": 0, "key": 1, "value": 2}
_ENCODER = (
    (r"layernorm_before\.(.+)", r"norm1.\1"),
    (r"layernorm_after\.(.+)", r"norm2.\1"),
    (r"token_mixer\.linear\.(.+)", r"token_mixer.proj.\1"),
    (r"channel_mlp\.ffn\.dense1\.(.+)", r"mlp.fc1.\1"),
    (r"channel_mlp\.ffn\.dense2\.(.+)", r"mlp.fc2.\1"),
)


def netspresso_keys(keys: Sequence[str]) -> Mapping[str, Union[str, Concat]]:
    out: dict[str, Union[str, Concat]] = {}
    ir = re.compile(r"encoder\.blocks\.(\d+)\.(\d+)\.block\.(\d+)\.block\.(conv|norm)\.(.+)")
    # how many conv units each inverted residual has (the 1x1 expansion is absent at expansion 1)
    units = Counter((m[1], m[2]) for m in map(ir.fullmatch, keys) if m and m[4] == "conv" and m[5] == "weight")
    # the transformer's last index in each MobileViT block holds its closing LayerNorm
    depth: dict[tuple[str, str], int] = {}
    for key in keys:
        m = re.fullmatch(r"encoder\.blocks\.(\d+)\.(\d+)\.global_rep\.(\d+)\..+", key)
        if m:
            depth[m[1], m[2]] = max(depth.get((m[1], m[2]), 0), int(m[3]))
    for key in keys:
        m = re.fullmatch(r"patch_embed\.conv\.block\.(.+)", key)
        if m:
            out[key] = "stem." + m[1]
            continue
        m = re.fullmatch(r"conv_1x1_exp\.block\.(.+)", key)
        if m:
            out[key] = "exp_conv." + m[1]
            continue
        m = ir.fullmatch(key)
        if m and units[m[1], m[2]] in _IR_LAYERS:
            out[key] = f"stages.{m[1]}.{m[2]}.{_IR_LAYERS[units[m[1], m[2]]][int(m[3])]}.{m[4]}.{m[5]}"
            continue
        m = re.fullmatch(r"encoder\.blocks\.(\d+)\.(\d+)\.(.+)", key)
        if not m:
            continue
        stage = f"stages.{m[1]}.{m[2]}"
        rest = m[3]
        local = re.fullmatch(r"local_rep\.0\.block\.(.+)", rest)
        if local:
            out[key] = f"{stage}.local_conv.{local[1]}"
        elif re.fullmatch(r"local_rep\.1\.block\.conv\.weight", rest):
            out[key] = f"{stage}.local_proj.weight"
        elif re.fullmatch(r"(proj|fusion)\.block\.(.+)", rest):
            out[key] = f"{stage}.{rest.replace('.block.', '.', 1)}"
        else:
            g = re.fullmatch(r"global_rep\.(\d+)\.(.+)", rest)
            if not g:
                continue
            index, inner = int(g[1]), g[2]
            if index == depth[m[1], m[2]] and re.fullmatch(r"weight|bias", inner):
                out[key] = f"{stage}.norm.{inner}"
                continue
            block = f"{stage}.transformer.{index}"
            qkv = re.fullmatch(r"token_mixer\.(query|key|value)\.(weight|bias)", inner)
            if qkv:
                out[key] = Concat(f"{block}.token_mixer.qkv.{qkv[2]}", _QKV[qkv[1]], 3)
                continue
            for pattern, repl in _ENCODER:
                if re.fullmatch(pattern, inner):
                    out[key] = f"{block}.{re.sub(pattern, repl, inner)}"
                    break
    return out
