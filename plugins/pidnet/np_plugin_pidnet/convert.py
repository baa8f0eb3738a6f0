"""XuJiacong/PIDNet checkpoints → nptrain's layout (``full.*`` keys of ``create_model(pidnet_*)``).

Two sources, because the two kinds of published files fill different parts of the model:

* ``pidnet``: Cityscapes/CamVid checkpoints (``best.pt``, ``final_state.pt``, ``checkpoint.pth.tar``).
  They are ``FullModel.state_dict()``: every model key carries a ``model.`` prefix (stripped here;
  the core only strips ``module.``), and the training wrapper's loss modules may add entries such
  as ``sem_loss.criterion.weight``; those are dropped on purpose (``LOSS_PREFIXES``). Every target
  key must be filled. The class count is read from the checkpoint (``final_layer.conv2``).
* ``pidnet_imagenet``: ImageNet-pretrained trunks (``PIDNet_S_ImageNet.pth.tar``). They have no
  segmentation heads, so the result holds every ``full.*`` key **except** the three heads
  (``HEAD_MODULES``); load it with ``model.load_state_dict(sd, strict=False)`` and check that the
  missing keys are only those (``missing_head_keys`` lists them). The ImageNet classifier
  (``IMAGENET_CLASSIFIER_PREFIXES``) is dropped on purpose. A file that does hold head keys is
  refused: convert it with ``pidnet``.

Any other source key that is not mapped, any target key left unfilled and any shape mismatch
raise :class:`ConversionError`. ``keep_head=False`` drops the class-dependent 1x1 classifiers
(``full.final_layer.classifier.*``, ``full.seghead_p.classifier.*``) so a checkpoint can start a
model with another number of classes (load those two non-strictly).
"""
from __future__ import annotations

import re
from typing import Callable, Mapping, Optional

import torch

from nptrain.converter_kit import check_layout, classes_in, drop_head, preset_shapes, rename, short
from nptrain.errors import ConversionError

HEAD_MODULES = ("seghead_p", "seghead_d", "final_layer")
CLASSIFIERS = ("final_layer.classifier.", "seghead_p.classifier.")
LOSS_PREFIXES = ("sem_loss.", "bd_loss.")  # FullModel's criteria (e.g. OHEM class weights), not model weights
# ImageNet classification layers that the segmentation network does not have
IMAGENET_CLASSIFIER_PREFIXES = ("linear.", "last_layer.")
_BN = r"(weight|bias|running_mean|running_var|num_batches_tracked)"


def _block(m: re.Match[str]) -> Optional[str]:
    """Residual-stage keys: ``layer3.1.bn2.bias`` / ``layer3_.0.conv1.weight`` / ``layer3_d.conv1.weight``."""
    stage, branch, index, rest = m.group(1), m.group(2) or "", m.group(3), m.group(4)
    if index is None and branch != "_d":
        return None  # only the D branch has un-indexed single blocks
    name = {"": "layer", "_": "p_layer", "_d": "d_layer"}[branch] + stage
    for pattern, repl in _BLOCK_RULES:
        if pattern.fullmatch(rest):
            return f"{name}.{index or 0}.{pattern.sub(repl, rest)}"
    return None


_BLOCK_RULES = tuple((re.compile(p), r) for p, r in (
    (r"conv(\d)\.weight", r"conv\1.conv.weight"),
    (rf"bn(\d)\.{_BN}", r"conv\1.norm.\2"),
    (r"downsample\.0\.weight", r"downsample.conv.weight"),
    (rf"downsample\.1\.{_BN}", r"downsample.norm.\1"),
))


def _spp_scale(m: re.Match[str]) -> str:
    k, pos, leaf = int(m.group(1)), m.group(2), m.group(3)
    return f"spp.scales.{k - 1}.{'norm' if pos == '1' else 'conv'}.{leaf}"


def _spp_process(m: re.Match[str]) -> str:
    k, pos, leaf = int(m.group(1)), m.group(2), m.group(3)
    return f"spp.process.{k - 1}.{'norm' if pos == '0' else 'conv'}.{leaf}"


# (pattern on the original key, replacement string or function); first match wins
_RULES: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], Optional[str]]], ...] = tuple(
    (re.compile(p), r) for p, r in (
        (r"conv1\.([03])\.(weight|bias)", lambda m: f"stem.{int(m.group(1)) // 3}.conv.{m.group(2)}"),
        (rf"conv1\.([14])\.{_BN}", lambda m: f"stem.{int(m.group(1)) // 3}.norm.{m.group(2)}"),
        (r"layer(\d)(_d|_)?\.(?:(\d+)\.)?(.+)", _block),
        (r"(compression[34]|diff[34]|pag[34]\.f_[xy]|dfm\.conv_[pi])\.0\.weight", r"\1.conv.weight"),
        (rf"(compression[34]|diff[34]|pag[34]\.f_[xy]|dfm\.conv_[pi])\.1\.{_BN}", r"\1.norm.\2"),
        (rf"spp\.scale([1-4])\.(1)\.{_BN}", _spp_scale),
        (r"spp\.scale([1-4])\.(3)\.(weight)", _spp_scale),
        (rf"spp\.process([1-4])\.(0)\.{_BN}", _spp_process),
        (r"spp\.process([1-4])\.(2)\.(weight)", _spp_process),
        (rf"(spp\.(?:scale0|scale_process|compression|shortcut)|dfm\.conv)\.0\.{_BN}", r"\1.norm.\2"),
        (r"(spp\.(?:scale0|scale_process|compression|shortcut)|dfm\.conv)\.2\.weight", r"\1.conv.weight"),
        (rf"(seghead_p|seghead_d|final_layer)\.bn([12])\.{_BN}", r"\1.norm\2.\3"),
        (r"(seghead_p|seghead_d|final_layer)\.conv1\.weight", r"\1.conv1.weight"),
        (r"(seghead_p|seghead_d|final_layer)\.conv2\.(weight|bias)", r"\1.classifier.\2"),
    ))


def target_key(key: str) -> Optional[str]:
    """nptrain key (with ``full.``) for one original key without ``model.``, or None if unmapped."""
    for pattern, repl in _RULES:
        m = pattern.fullmatch(key)
        if m:
            out = repl(m) if callable(repl) else m.expand(repl)
            return None if out is None else "full." + out
    return None


def _reference_shapes(preset: str, num_classes: int) -> dict[str, tuple[int, ...]]:
    return preset_shapes(preset, task="segmentation", num_classes=num_classes)


def _is_head(target: str) -> bool:
    return target.split(".", 2)[1] in HEAD_MODULES


def missing_head_keys(preset: str, num_classes: int = 19) -> list[str]:
    """Target keys a ``pidnet_imagenet`` conversion leaves for the caller to initialise."""
    return sorted(k for k in _reference_shapes(preset, num_classes) if _is_head(k))


def _strip_wrapper(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the ``model.`` prefix of FullModel checkpoints (the original loader keeps ``k[6:]``)."""
    if any(k.startswith("model.") for k in state_dict):
        return {k[len("model."):] if k.startswith("model.") else k: v for k, v in state_dict.items()}
    return dict(state_dict)


def _convert(state_dict: Mapping[str, torch.Tensor], preset: str, keep_head: bool, imagenet: bool) -> dict[str, torch.Tensor]:
    label = f"{'pidnet_imagenet' if imagenet else 'pidnet'}→{preset}"

    def unmapped_hint(keys: list[str]) -> str:
        imagenet_keys = any(k.startswith(IMAGENET_CLASSIFIER_PREFIXES) for k in keys)
        return " (an ImageNet classification file? use --from pidnet_imagenet)" if imagenet_keys else ""

    def unfilled_hint(keys: list[str]) -> str:
        return (" (a backbone-only ImageNet file? use --from pidnet_imagenet)"
                if all(_is_head(k) for k in keys) else f" (is the checkpoint a {preset}?)")

    dropped = LOSS_PREFIXES + (IMAGENET_CLASSIFIER_PREFIXES if imagenet else ())
    out = rename(_strip_wrapper(state_dict), target_key, label=label, skip=dropped, unmapped_hint=unmapped_hint)
    heads = sorted(k for k in out if _is_head(k))
    if imagenet and heads:
        raise ConversionError(f"{label}: the file holds segmentation-head keys ({short(heads)}): it is a full "
                              f"checkpoint, convert it with --from pidnet")
    reference = _reference_shapes(preset, classes_in(out, "full.final_layer.classifier.weight", default=19))
    wanted = {k: v for k, v in reference.items() if not (imagenet and _is_head(k))}
    check_layout(out, wanted, label=label, preset=preset, unfilled_hint=unfilled_hint)
    return drop_head(out, keep_head, prefixes=tuple("full." + c for c in CLASSIFIERS))


def from_pidnet(state_dict: Mapping[str, torch.Tensor], *, preset: str, keep_head: bool = True) -> dict[str, torch.Tensor]:
    """A full Cityscapes/CamVid PIDNet checkpoint (heads included) → ``preset``'s ``full.*`` keys."""
    return _convert(state_dict, preset, keep_head, imagenet=False)


def from_pidnet_imagenet(state_dict: Mapping[str, torch.Tensor], *, preset: str,
                         keep_head: bool = True) -> dict[str, torch.Tensor]:
    """An ImageNet-pretrained PIDNet trunk → every ``full.*`` key except the three heads.

    ``keep_head`` has nothing to drop here (the heads are never filled); it is accepted for the
    converter signature."""
    return _convert(state_dict, preset, keep_head, imagenet=True)


# NetsPresso Trainer 1.x's PIDNet is the original with every conv + BN pair of the trunk wrapped in one
# ConvLayer (``X.block.conv`` / ``X.block.norm``); these undo that, then the original's rule applies
_NETSPRESSO = tuple((re.compile(p), r) for p, r in (
    (r"conv1\.(\d)\.block\.(conv|norm)\.(.+)",
     lambda m: f"conv1.{3 * int(m.group(1)) + (m.group(2) == 'norm')}.{m.group(3)}"),
    (r"(.+)\.conv(\d)\.block\.conv\.(.+)", r"\1.conv\2.\3"),
    (r"(.+)\.conv(\d)\.block\.norm\.(.+)", r"\1.bn\2.\3"),
    (r"(.+)\.downsample\.block\.(conv|norm)\.(.+)", lambda m: f"{m.group(1)}.downsample."
                                                         f"{int(m.group(2) == 'norm')}.{m.group(3)}"),
    (r"(compression[34]|diff[34])\.block\.(conv|norm)\.(.+)",
     lambda m: f"{m.group(1)}.{int(m.group(2) == 'norm')}.{m.group(3)}"),
))


def netspresso_keys(keys) -> dict[str, str]:
    """NetsPresso Trainer's PIDNet keys (no prefix: it saves the full model bare) onto ours without ``full.``."""
    out = {}
    for key in keys:
        original = key
        for pattern, repl in _NETSPRESSO:
            m = pattern.fullmatch(key)
            if m:
                original = repl(m) if callable(repl) else m.expand(repl)
                break
        ours = target_key(original)
        if ours is not None:
            out[key] = ours[len("full."):]
    return out
