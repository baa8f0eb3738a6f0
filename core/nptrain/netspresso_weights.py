"""Checkpoints saved by NetsPresso Trainer 1.x: recognise their layout and map it onto our model's keys.

NetsPresso Trainer saves ``model.state_dict()`` flat (safetensors, no wrapper, no prefix), with the parts
under ``backbone.``, ``neck.`` and ``head.`` as ours are. Where a component's modules are named as
NetsPresso names them (the mobilenetv3 backbone, say), its keys already agree. A component whose layout
differs says how with one method on its module::

    def netspresso_keys(self, keys: Sequence[str]) -> Mapping[str, str]:
        # keys: the checkpoint's keys under this part, without the part's prefix
        # returns NetsPresso key -> our key for those it renames; keys left out stay as they are

(the core's ``fc`` head does: NetsPresso keeps its linear layers in one ``classifier`` Sequential). The
layout counts as recognised only when every key then lands on a tensor of the same shape and every
tensor of the model is filled: a partial match is not loaded as NetsPresso's, it is reported as a mismatch.
"""
from __future__ import annotations

from typing import Mapping, Optional

import torch
from torch import nn

PARTS = ("backbone", "neck", "head")


def netspresso_state(model: nn.Module, state: Mapping[str, torch.Tensor]) -> Optional[dict[str, torch.Tensor]]:
    """``state`` renamed onto ``model``'s keys when it is a NetsPresso Trainer checkpoint of this model's
    architecture, else None (nothing renamed, nothing matched, or something left over or unfilled)."""
    if not state or not all(k.split(".", 1)[0] in PARTS for k in state):
        return None
    mapped: dict[str, torch.Tensor] = {}
    renamed = 0
    for part in PARTS:
        prefix = part + "."
        keys = [k[len(prefix):] for k in state if k.startswith(prefix)]
        if not keys:
            continue
        module = getattr(model, part, None)
        if module is None:
            return None
        rename = module.netspresso_keys(keys) if hasattr(module, "netspresso_keys") else {}
        for key in keys:
            ours = rename.get(key, key)
            renamed += ours != key
            mapped[prefix + ours] = state[prefix + key]
    own = model.state_dict()
    if set(mapped) != set(own) or any(tuple(own[k].shape) != tuple(v.shape) for k, v in mapped.items()):
        return None
    return mapped
