"""Rebuild a pruned model without unpickling code: build the original architecture from the config,
then shrink every layer to the shapes the pruned state dict holds, then load it strictly.

This works because pruning only changes tensor shapes (channel counts), and our models keep
structure-defining sizes (head counts, head dims) out of reshapes that pruning touches."""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from nptrain.errors import UserError


def _replace(module: nn.Module, name: str, shape: torch.Size) -> None:
    old = getattr(module, name)
    if old is None or tuple(old.shape) == tuple(shape):
        return
    new = torch.empty(shape, dtype=old.dtype)
    if isinstance(old, nn.Parameter):
        setattr(module, name, nn.Parameter(new, requires_grad=old.requires_grad))
    else:
        module.register_buffer(name, new, persistent=name not in module._non_persistent_buffers_set)


def conform_to_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor]) -> int:
    """Resize ``model``'s layers to ``state``'s shapes; returns the number of tensors resized."""
    changed = 0
    for mod_name, module in model.named_modules():
        prefix = f"{mod_name}." if mod_name else ""
        local = {n: state[prefix + n] for n, _ in list(module.named_parameters(recurse=False)) +
                 list(module.named_buffers(recurse=False)) if prefix + n in state}
        if not local:
            continue
        before = {n: tuple(getattr(module, n).shape) for n in local if getattr(module, n) is not None}
        if all(before.get(n) == tuple(t.shape) for n, t in local.items()):
            continue
        w = local.get("weight")
        if isinstance(module, nn.modules.conv._ConvNd) and w is not None:
            if module.groups > 1 and module.groups == module.in_channels:  # depthwise: groups follow channels
                module.groups = int(w.shape[0]) // max(module.out_channels // module.in_channels, 1)
            module.out_channels = int(w.shape[0])
            module.in_channels = int(w.shape[1]) * module.groups
        elif isinstance(module, nn.Linear) and w is not None:
            module.out_features, module.in_features = int(w.shape[0]), int(w.shape[1])
        elif isinstance(module, nn.modules.batchnorm._NormBase) and w is not None:
            module.num_features = int(w.shape[0])
        elif isinstance(module, nn.LayerNorm) and w is not None:
            module.normalized_shape = (int(w.shape[0]),) + tuple(module.normalized_shape[1:])
        elif isinstance(module, nn.GroupNorm) and w is not None:
            module.num_channels = int(w.shape[0])
            if module.num_channels % module.num_groups:
                module.num_groups = 1 if module.num_groups != module.num_channels else module.num_channels
        for n, t in local.items():
            _replace(module, n, t.shape)
            changed += 1
    return changed


def load_pruned(model: nn.Module, state: Mapping[str, torch.Tensor], source: str = "pruned weights") -> nn.Module:
    conform_to_state_dict(model, state)
    try:
        model.load_state_dict(dict(state), strict=True)
    except RuntimeError as exc:
        raise UserError(f"{source}: does not fit the configured architecture ({str(exc).splitlines()[0][:200]}); "
                        "was it pruned from a model with this config?") from None
    return model
