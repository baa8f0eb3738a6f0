"""NetsPresso Trainer 1.x's EfficientFormer checkpoints onto ours (:mod:`nptrain.netspresso_weights`).

NetsPresso keeps snap's modules under other names: the stem as ``patch_embed.stem.I.block``, stages and
the embeddings between them as one flat ``encoder.blocks.K`` list (a stage's blocks ``K.B``, an embedding
``K.proj``; a dense model's per-stage norms ``encoder.normK`` at the stage's ``K``), conv + BN pairs under ``block``, Hugging Face-style names inside blocks, and separate ``query``,
``key`` and ``value`` projections where ours (snap's) packs them per head into one ``qkv``: head ``h`` owns
rows ``[q_h, k_h, v_h]``. So this rearranges tensors, not only keys."""
from __future__ import annotations

import math
import re
from typing import Mapping

import torch

from np_plugin_efficientformer.convert import bias_index

_INNER = (
    (r"layer_scale_1", "ls1.gamma"),
    (r"layer_scale_2", "ls2.gamma"),
    (r"channel_mlp\.ffn\.conv_1x1_([12])\.block\.conv\.(.+)", r"mlp.fc\1.\2"),
    (r"channel_mlp\.ffn\.conv_1x1_([12])\.block\.norm\.(.+)", r"mlp.norm\1.\2"),
    (r"channel_mlp\.ffn\.dense([12])\.(.+)", r"mlp.fc\1.\2"),
    (r"layernorm_before\.(.+)", r"norm1.\1"),
    (r"layernorm_after\.(.+)", r"norm2.\1"),
    (r"token_mixer\.linear\.(.+)", r"token_mixer.proj.\1"),
)


def netspresso_state(state: Mapping[str, torch.Tensor], num_heads: Mapping[str, int]) -> dict[str, torch.Tensor]:
    """The backbone's tensors under our keys. ``num_heads``: our attention modules' head counts by key prefix
    (``stages.3.blocks.4.token_mixer``). Raises KeyError / ValueError when the file is not this layout."""
    indices = sorted({int(m[1]) for k in state if (m := re.match(r"encoder\.blocks\.(\d+)\.", k))})
    embeds = {i for i in indices if any(k.startswith(f"encoder.blocks.{i}.proj.") for k in state)}
    # stages in order; an embedding belongs to the stage after it (both: the stages before it)
    stage_of = {i: len([j for j in indices if j < i and j not in embeds]) for i in indices}
    out: dict[str, torch.Tensor] = {}
    qkv: dict[str, dict[str, torch.Tensor]] = {}
    bias: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        m = re.fullmatch(r"patch_embed\.stem\.(\d+)\.block\.(conv|norm)\.(.+)", key)
        if m:
            out[f"stem.{m[1]}.{m[2]}.{m[3]}"] = value
            continue
        if key in ("norm.weight", "norm.bias"):
            out[key] = value
            continue
        m = re.fullmatch(r"encoder\.norm(\d+)\.(weight|bias)", key)  # dense tasks: one norm per returned stage
        if m:
            out[f"fork_norms.{stage_of[int(m[1])]}.{m[2]}"] = value
            continue
        m = re.fullmatch(r"encoder\.blocks\.(\d+)\.proj\.block\.(conv|norm)\.(.+)", key)
        if m:
            out[f"stages.{stage_of[int(m[1])]}.downsample.{m[2]}.{m[3]}"] = value
            continue
        m = re.fullmatch(r"encoder\.blocks\.(\d+)\.(\d+)\.(.+)", key)
        if not m:
            raise KeyError(key)
        block, inner = f"stages.{stage_of[int(m[1])]}.blocks.{m[2]}", m[3]
        if inner in ("token_mixer.attention_bias_idxs", "token_mixer.attention_biases"):
            bias.setdefault(f"{block}.token_mixer", {})[inner.rsplit(".", 1)[1]] = value
            continue
        p = re.fullmatch(r"token_mixer\.(query|key|value)\.(weight|bias)", inner)
        if p:
            qkv.setdefault(f"{block}.token_mixer.qkv.{p[2]}", {})[p[1]] = value
            continue
        for pattern, repl in _INNER:
            if re.fullmatch(pattern, inner):
                out[f"{block}.{re.sub(pattern, repl, inner)}"] = value
                break
        else:
            raise KeyError(key)
    for key, parts in qkv.items():
        heads = num_heads[key.rsplit(".qkv.", 1)[0]]
        q, k, v = (parts[n].reshape(heads, -1, *parts[n].shape[1:]) for n in ("query", "key", "value"))
        out[key] = torch.cat((q, k, v), dim=1).reshape(-1, *parts["query"].shape[1:])  # per head [q, k, v]
    for mixer, parts in bias.items():
        out[f"{mixer}.attention_biases"] = _bias_table(parts["attention_biases"], parts["attention_bias_idxs"], mixer)
    return out


def _bias_table(table: torch.Tensor, index: torch.Tensor, where: str) -> torch.Tensor:
    """NetsPresso's bias table re-indexed for our attention, which derives its index (``|dy| * R + |dx|``)
    instead of saving one. NetsPresso Trainer 1.4.1 saves the index its model had, and its EfficientFormer
    builds it as all ones (every query/key pair gets column 1): each of our columns then takes the column
    NetsPresso used for the pairs it covers, which gives the same biases as long as those pairs agree."""
    side = math.isqrt(index.shape[0])
    if side * side != index.shape[0] or table.shape[1] != side * side:
        raise ValueError(f"{where}: a {tuple(index.shape)} bias index does not fit a {tuple(table.shape)} table")
    ours, theirs = bias_index(side), index.long()
    out = torch.empty_like(table)
    for column in range(side * side):
        used = theirs[ours == column].unique()
        if used.numel() != 1:
            raise ValueError(f"{where}: pairs at one offset use bias columns {used.tolist()}; ours cannot")
        out[:, column] = table[:, int(used)]
    return out
