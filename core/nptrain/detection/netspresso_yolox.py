"""NetsPresso Trainer's YOLOX checkpoint keys onto ours, by way of Megvii's (``detection/megvii.py``).

NetsPresso Trainer 1.x keeps Megvii's module names with three differences: its parts are split as ours are
(``backbone.`` is Megvii's ``backbone.backbone.``, ``neck.`` Megvii's ``backbone.`` PAFPN layers), every conv
unit wraps conv and norm in a ``block`` Sequential, and depthwise-separable units name their halves
``depthwise`` / ``pointwise`` where Megvii says ``dconv`` / ``pconv``. Undo those and Megvii's rule does the rest.
Used by the ``netspresso_keys`` methods of cspdarknet, yolopafpn and the anchor-free head
(:mod:`nptrain.netspresso_weights`)."""
from __future__ import annotations

from typing import Mapping, Sequence

from nptrain.detection.megvii import target_key

_MEGVII_PREFIX = {"backbone": "backbone.backbone.", "neck": "backbone.", "head": "head."}


def netspresso_yolox_keys(part: str, keys: Sequence[str]) -> Mapping[str, str]:
    """NetsPresso key -> our key (both without the ``part.`` prefix) for the keys Megvii's rule maps."""
    out = {}
    for key in keys:
        megvii = key.replace(".block.", ".").replace("depthwise.", "dconv.").replace("pointwise.", "pconv.")
        ours = target_key(_MEGVII_PREFIX[part] + megvii)
        if ours is not None and ours.startswith(part + "."):
            out[key] = ours[len(part) + 1:]
    return out
