"""Hugging Face Segformer files (transformers-4 key names) → nptrain's layout.

Sources: ``nvidia/mit-b0``..``b5`` (``SegformerForImageClassification``: ``segformer.encoder.*`` +
``classifier.*``) and ``nvidia/segformer-b*-finetuned-*`` (``SegformerForSemanticSegmentation``:
``segformer.encoder.*`` + ``decode_head.*``). A bare ``SegformerModel`` file (``encoder.*``) works
too. Targets are the task model's keys (``backbone.*`` / ``head.*``), so the result loads strictly
into ``nptrain.create_model(preset)``.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Mapping, Optional

import torch

from nptrain.converter_kit import check_layout, classes_in, drop_head, preset_shapes, rename
from nptrain.errors import ConversionError

# (pattern on the source key without its "segformer." prefix, replacement); first match wins
_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), r) for p, r in (
    (r"^encoder\.patch_embeddings\.(\d+)\.proj\.(weight|bias)$", r"backbone.stages.\1.patch_embed.proj.\2"),
    (r"^encoder\.patch_embeddings\.(\d+)\.layer_norm\.(weight|bias)$", r"backbone.stages.\1.patch_embed.norm.\2"),
    (r"^encoder\.block\.(\d+)\.(\d+)\.layer_norm_1\.(weight|bias)$", r"backbone.stages.\1.blocks.\2.norm1.\3"),
    (r"^encoder\.block\.(\d+)\.(\d+)\.layer_norm_2\.(weight|bias)$", r"backbone.stages.\1.blocks.\2.norm2.\3"),
    (r"^encoder\.block\.(\d+)\.(\d+)\.attention\.self\.(query|key|value|sr)\.(weight|bias)$",
     r"backbone.stages.\1.blocks.\2.token_mixer.\3.\4"),
    (r"^encoder\.block\.(\d+)\.(\d+)\.attention\.self\.layer_norm\.(weight|bias)$",
     r"backbone.stages.\1.blocks.\2.token_mixer.norm.\3"),
    (r"^encoder\.block\.(\d+)\.(\d+)\.attention\.output\.dense\.(weight|bias)$",
     r"backbone.stages.\1.blocks.\2.token_mixer.proj.\3"),
    (r"^encoder\.block\.(\d+)\.(\d+)\.mlp\.dense1\.(weight|bias)$", r"backbone.stages.\1.blocks.\2.mlp.fc1.\3"),
    (r"^encoder\.block\.(\d+)\.(\d+)\.mlp\.dwconv\.dwconv\.(weight|bias)$", r"backbone.stages.\1.blocks.\2.mlp.dwconv.\3"),
    (r"^encoder\.block\.(\d+)\.(\d+)\.mlp\.dense2\.(weight|bias)$", r"backbone.stages.\1.blocks.\2.mlp.fc2.\3"),
    (r"^encoder\.layer_norm\.(\d+)\.(weight|bias)$", r"backbone.stages.\1.norm.\2"),
    (r"^classifier\.(weight|bias)$", r"head.classifier.\1"),
    (r"^decode_head\.linear_c\.(\d+)\.proj\.(weight|bias)$", r"head.linear_c.\1.\2"),
    (r"^decode_head\.linear_fuse\.weight$", r"head.linear_fuse.conv.weight"),
    (r"^decode_head\.batch_norm\.(weight|bias|running_mean|running_var|num_batches_tracked)$",
     r"head.linear_fuse.norm.\1"),
    (r"^decode_head\.classifier\.(weight|bias)$", r"head.classifier.\1"),
))


def target_key(key: str) -> Optional[str]:
    """nptrain key for one Hugging Face key, or None when the key is not part of the layout."""
    name = key[len("segformer."):] if key.startswith("segformer.") else key
    for pattern, repl in _RULES:
        if pattern.match(name):
            return pattern.sub(repl, name)
    return None


def from_hf(state_dict: Mapping[str, torch.Tensor], *, preset: str, keep_head: bool = True) -> dict[str, torch.Tensor]:
    """Map a flat Hugging Face Segformer state dict onto ``preset`` (``mit_b*`` or ``segformer_b0``).

    Raises :class:`ConversionError` for any unmapped source key, any target key left unfilled and
    any shape mismatch (a checkpoint of another size). ``keep_head=False`` drops every ``head.``
    key (the classifier, or the whole decode head) and checks the encoder only, so the caller can
    re-initialise the head: ImageNet ``mit-b0`` weights can start a ``segformer_b0`` this way.
    """
    label = f"hf→{preset}"
    out = drop_head(rename(state_dict, target_key, label=label), keep_head)
    # the classifier's rows give the checkpoint's class count; check every other shape against it
    expected = preset_shapes(preset, num_classes=classes_in(out, "head.classifier.weight", default=1))
    return check_layout(out, drop_head(expected, keep_head), label=label, preset=preset)


def check_hf_config(folder: str | Path, preset: str) -> dict:
    """Read a Hub folder's ``config.json`` and check it describes ``preset``'s encoder.

    The core reads the weights of a folder itself (``model.safetensors``/``pytorch_model.bin``);
    this helper catches a folder of another size or a different decoder width before converting.
    Returns the parsed config.
    """
    from np_plugin_segformer.presets import HEADS, PATCH_SIZES, SR_RATIOS, STRIDES, VARIANTS

    path = Path(folder) / "config.json"
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConversionError(f"{path}: cannot read a Hugging Face config ({exc})") from None
    variant = "b0" if preset == "segformer_b0" else preset.removeprefix("mit_")
    if variant not in VARIANTS:
        raise ConversionError(f"no Hugging Face layout known for preset {preset!r}")
    widths, depths = VARIANTS[variant]
    want = {"hidden_sizes": list(widths), "depths": list(depths), "num_attention_heads": list(HEADS),
            "sr_ratios": list(SR_RATIOS), "patch_sizes": list(PATCH_SIZES), "strides": list(STRIDES)}
    if preset == "segformer_b0":
        want["decoder_hidden_size"] = 256
    wrong = [f"{k}={config.get(k)!r} (expected {v!r})" for k, v in want.items() if config.get(k, v) != v]
    if wrong:
        raise ConversionError(f"{path} does not describe {preset}: {', '.join(wrong)}")
    return config
