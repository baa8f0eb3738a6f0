"""Checkpoints saved by NetsPresso Trainer 1.x: recognise their layout and map it onto our model's keys.

NetsPresso Trainer saves ``model.state_dict()`` flat (safetensors, no wrapper, no prefix), with the parts
under ``backbone.``, ``neck.`` and ``head.`` as ours are (a full model such as PIDNet bare, where ours is
under ``full.``). Where a component's modules are named as NetsPresso names them (the mobilenetv3 backbone,
say), its keys already agree. A component whose layout differs says how with one method on its module::

    def netspresso_keys(self, keys: Sequence[str]) -> Mapping[str, str]:
        # keys: the checkpoint's keys under this part, without the part's prefix
        # returns NetsPresso key -> our key for those it renames; keys left out stay as they are.
        # A value may be nptrain.converter_rules.Concat(target, index, count): this key is part `index` of
        # `count` joined into one of ours (NetsPresso's separate query/key/value onto a fused qkv)

(the core's ``fc`` head does: NetsPresso keeps its linear layers in one ``classifier`` Sequential). A part
whose tensors must be rearranged, not only renamed, defines ``netspresso_state(self, state) -> state`` instead
(the part's tensors under NetsPresso's keys in, ours out; efficientformer interleaves its separate query, key
and value per head into snap's ``qkv``). The layout counts as recognised only when every key then lands on a
tensor of the same shape and every tensor of the model is filled: a partial match is not loaded as
NetsPresso's, it is reported as a mismatch.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import attrs
import torch
from torch import nn

from nptrain.converter_rules import Concat, join_concats

PARTS = ("backbone", "neck", "head")


def looks_like_netspresso(state: Mapping[str, torch.Tensor]) -> bool:
    """Every key under ``backbone.`` / ``neck.`` / ``head.`` and some in NetsPresso's ``.block.`` wrapping of a
    conv + norm pair: how its files look, whatever the model."""
    keys = list(state)
    return bool(keys) and all(k.split(".", 1)[0] in PARTS for k in keys) and any(".block." in k for k in keys)


def netspresso_state(model: nn.Module, state: Mapping[str, torch.Tensor],
                     only: Sequence[str] = PARTS) -> Optional[dict[str, torch.Tensor]]:
    """``state`` renamed onto ``model``'s keys when it is a NetsPresso Trainer checkpoint of this model's
    architecture, else None (nothing renamed, nothing matched, or something left over or unfilled).

    ``only=("backbone",)`` maps the backbone alone (the file's other parts are left out): NetsPresso's ImageNet
    classifiers given to a detection or segmentation model. A head whose class count differs still maps (the
    loader re-initialises it)."""
    if not state:
        return None
    # a full model (PIDNet) is saved bare: its keys carry no part prefix at all; ours sit under ``full.``
    full = hasattr(model, "full") and not any(k.split(".", 1)[0] in PARTS for k in state)
    if not full and not all(k.split(".", 1)[0] in PARTS for k in state):
        return None
    mapped: dict[str, torch.Tensor] = {}
    for part in ("full",) if full else only:
        theirs = "" if full else part + "."
        keys = [k[len(theirs):] for k in state if k.startswith(theirs)]
        if not keys:
            continue
        module = getattr(model, part, None)
        if module is None:
            return None
        if hasattr(module, "netspresso_state"):  # the part rearranges tensors itself
            try:
                own_part = module.netspresso_state({k: state[theirs + k] for k in keys})
            except (KeyError, ValueError, RuntimeError):  # not this layout after all
                return None
            mapped.update({f"{part}.{k}": v for k, v in own_part.items()})
            continue
        rename = module.netspresso_keys(keys) if hasattr(module, "netspresso_keys") else {}
        parts: dict[str, dict[int, tuple[str, torch.Tensor]]] = {}
        rules: dict[str, Concat] = {}
        for key in keys:
            target = rename.get(key, key)
            if isinstance(target, Concat):  # one part of a tensor ours keeps fused
                fused = attrs.evolve(target, target=part + "." + target.target)
                rules[fused.target] = fused
                parts.setdefault(fused.target, {})[fused.index] = (key, state[theirs + key])
            elif part + "." + target in mapped:
                return None  # two keys on one tensor: not this layout
            else:
                mapped[part + "." + target] = state[theirs + key]
        joined, problems = join_concats(parts, rules)
        if problems:
            return None
        mapped.update(joined)
    own = {k: v for k, v in model.state_dict().items() if full or k.split(".", 1)[0] in only}
    if set(mapped) != set(own) or any(tuple(own[k].shape) != tuple(v.shape) for k, v in mapped.items()
                                      if not k.startswith("head.")):
        return None
    return mapped
