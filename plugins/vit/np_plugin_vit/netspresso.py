"""NetsPresso Trainer 1.x's ViT checkpoint keys onto ours (:mod:`nptrain.netspresso_weights`), for ``style: netspresso``.

NetsPresso names the patch conv ``patch_embed.patch_emb.block.conv``, keeps separate ``query``, ``key`` and
``value`` projections where ours is one ``qkv`` (rows ``[q; k; v]``: a ``Concat`` the core joins), Hugging
Face-style names in the blocks, and saves its fixed position table as ``patch_embed.pos_embed.pe``; ours is a saved
buffer too and takes the file's, since NetsPresso's model runs with whatever table its checkpoint holds."""
from __future__ import annotations

import re
from typing import Mapping, Sequence, Union

from nptrain.converter_rules import Concat

_RENAMES = (
    (r"patch_embed\.patch_emb\.block\.conv\.(weight|bias)", r"patch_emb.\1"),
    (r"patch_embed\.pos_embed\.pe", "pos_embed"),
    (r"patch_embed\.cls_token", "cls_token"),
    (r"encoder\.blocks\.(\d+)\.layernorm_before\.(.+)", r"blocks.\1.norm1.\2"),
    (r"encoder\.blocks\.(\d+)\.layernorm_after\.(.+)", r"blocks.\1.norm2.\2"),
    (r"encoder\.blocks\.(\d+)\.token_mixer\.linear\.(.+)", r"blocks.\1.token_mixer.proj.\2"),
    (r"encoder\.blocks\.(\d+)\.channel_mlp\.ffn\.dense([12])\.(.+)", r"blocks.\1.mlp.fc\2.\3"),
)
_QKV = ("query", "key", "value")


def netspresso_keys(keys: Sequence[str]) -> Mapping[str, Union[str, Concat]]:
    """NetsPresso key -> our key (or the part of our fused ``qkv`` it is)."""
    out: dict[str, Union[str, Concat]] = {}
    for key in keys:
        m = re.fullmatch(r"encoder\.blocks\.(\d+)\.token_mixer\.(query|key|value)\.(weight|bias)", key)
        if m:
            out[key] = Concat(f"blocks.{m[1]}.token_mixer.qkv.{m[3]}", _QKV.index(m[2]), 3)
            continue
        for pattern, repl in _RENAMES:
            if re.fullmatch(pattern, key):
                out[key] = re.sub(pattern, repl, key)
                break
    return out
