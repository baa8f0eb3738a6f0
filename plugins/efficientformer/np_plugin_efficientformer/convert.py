"""snap-research EfficientFormer (v1) state dicts → nptrain's layout (``backbone.*`` / ``head.*``).

The original keeps stages and embeddings in one list, ``network``: stage ``i`` at an even index and
the embedding that follows it at the next odd index (when ``downsamples`` asks for one). Block
indices inside a stage carry over unchanged because our last stage keeps a parameter-free
``ToChannelsLast`` where the original has its ``Flat``. Tensors are copied as they are: the fused
``qkv`` already packs query, key and value rows per head the way our attention splits them.

``token_mixer.attention_bias_idxs`` (int64) is not a weight: our attention derives the same index
from the token grid. The converter checks the checkpoint's index equals that rule at the preset's
``attention_bias_resolution`` and then drops it, so a checkpoint whose biases mean something else
fails loudly instead of loading silently.
"""
from __future__ import annotations

import re
from typing import Mapping

import torch

from nptrain.converter_kit import check_layout, classes_in, drop_head, preset_shapes, rename
from nptrain.errors import ConversionError

from np_plugin_efficientformer.presets import LAYOUTS, architecture

_STEM = {"patch_embed.0": "backbone.stem.0.conv", "patch_embed.1": "backbone.stem.0.norm",
         "patch_embed.3": "backbone.stem.1.conv", "patch_embed.4": "backbone.stem.1.norm"}
_LEAF = r"(weight|bias|running_mean|running_var|num_batches_tracked)"
_STEM_RE = re.compile(rf"^(patch_embed\.[0-9])\.{_LEAF}$")
_EMBED_RE = re.compile(rf"^network\.(\d+)\.(proj|norm)\.{_LEAF}$")
_BLOCK_RE = re.compile(r"^network\.(\d+)\.(\d+)\.(.+)$")
# sub-keys of a block: snap name → ours (None: checked, then dropped)
_BLOCK_PARTS = {"layer_scale_1": "ls1.gamma", "layer_scale_2": "ls2.gamma",
                "token_mixer.attention_bias_idxs": None}
_BLOCK_SAME = re.compile(rf"^(mlp\.(fc1|fc2|norm1|norm2)\.{_LEAF}|norm[12]\.(weight|bias)|"
                         r"token_mixer\.(qkv|proj)\.(weight|bias)|token_mixer\.attention_biases)$")
_TOP = {"norm.weight": "backbone.norm.weight", "norm.bias": "backbone.norm.bias",
        "head.weight": "head.classifier.weight", "head.bias": "head.classifier.bias",
        "dist_head.weight": "head.dist_classifier.weight", "dist_head.bias": "head.dist_classifier.bias"}


def _network_index(downsamples: list[bool], channels: tuple[int, ...]) -> dict[int, tuple[str, int]]:
    """snap ``network`` index → ("stage", i) or ("embed", i) (the embedding in front of stage i)."""
    out, k = {}, 0
    for i in range(4):
        out[k] = ("stage", i)
        k += 1
        if i < 3 and (downsamples[i] or channels[i] != channels[i + 1]):
            out[k] = ("embed", i + 1)
            k += 1
    return out


def bias_index(resolution: int) -> torch.Tensor:
    """The ``(R*R, R*R)`` attention-bias index our attention uses on an R x R grid: ``|dy| * R + |dx|``."""
    pos = torch.arange(resolution)
    d = (pos[:, None] - pos[None, :]).abs()
    return (d[:, None, :, None] * resolution + d[None, :, None, :]).reshape(resolution ** 2, resolution ** 2)


def target_key(key: str, network: Mapping[int, tuple[str, int]]) -> str | None:
    """Our task-model key for a snap key ('' for a key that is checked and dropped), or None if it has no counterpart."""
    if key in _TOP:
        return _TOP[key]
    m = _STEM_RE.match(key)
    if m:
        base = _STEM.get(m.group(1))
        return None if base is None else f"{base}.{m.group(2)}"
    m = _EMBED_RE.match(key)
    if m:
        kind, i = network.get(int(m.group(1)), ("", -1))
        return f"backbone.stages.{i}.downsample.{'conv' if m.group(2) == 'proj' else 'norm'}.{m.group(3)}" \
            if kind == "embed" else None
    m = _BLOCK_RE.match(key)
    if m:
        kind, i = network.get(int(m.group(1)), ("", -1))
        if kind != "stage":
            return None
        rest = m.group(3)
        prefix = f"backbone.stages.{i}.blocks.{m.group(2)}."
        if rest in _BLOCK_PARTS:
            part = _BLOCK_PARTS[rest]
            return "" if part is None else prefix + part
        return prefix + rest if _BLOCK_SAME.match(rest) else None
    return None


def from_snap(state_dict: Mapping[str, torch.Tensor], *, preset: str, keep_head: bool = True,
              keep_dist: bool = True) -> dict[str, torch.Tensor]:
    """Convert a snap-research ``EfficientFormer`` state dict for ``preset``.

    ``keep_dist=False`` drops ``dist_head.*`` (for a model whose head has ``distillation: false``);
    ``keep_head=False`` drops both classifiers. Raises :class:`ConversionError` listing any source key
    without a counterpart, any target key left unfilled, any shape mismatch, and an
    ``attention_bias_idxs`` that differs from the rule our attention uses.
    """
    label = f"snap→{preset}"
    if preset not in LAYOUTS:
        raise ConversionError(f"{label}: unknown preset; this converter fills {', '.join(LAYOUTS)}")
    bb = architecture(preset)["backbone"]
    network = _network_index(bb["params"]["downsamples"], LAYOUTS[preset][1])
    resolution = int(bb["params"]["attention_bias_resolution"])
    ref = bias_index(resolution)
    weights: dict[str, torch.Tensor] = {}
    bad_index = []
    for key, value in state_dict.items():
        if target_key(key, network) != "":
            weights[key] = value
        elif tuple(value.shape) != tuple(ref.shape) or not torch.equal(value.long(), ref):
            bad_index.append(key)
    out = rename(weights, lambda key: target_key(key, network), label=label)
    if bad_index:
        raise ConversionError(f"{label}: {len(bad_index)} attention_bias_idxs differ from the |dy|*{resolution}+|dx| "
                              f"rule at resolution {resolution}: {', '.join(bad_index[:5])}")
    spec: dict = {"name": preset, "task": "classification"}
    if not keep_dist:  # the preset's own architecture, with the distillation classifier switched off
        spec["architecture"] = {"head": {"params": {"distillation": False}}}
        out = drop_head(out, False, prefixes=("head.dist_classifier.",))
    expected = preset_shapes(spec, num_classes=classes_in(out, "head.classifier.weight"))
    return check_layout(drop_head(out, keep_head), drop_head(expected, keep_head), label=label, preset=preset)


def from_snap_nodist(state_dict: Mapping[str, torch.Tensor], *, preset: str,
                     keep_head: bool = True) -> dict[str, torch.Tensor]:
    """:func:`from_snap` with ``keep_dist=False`` (converter source ``snap_nodist``, reachable from the CLI)."""
    return from_snap(state_dict, preset=preset, keep_head=keep_head, keep_dist=False)
