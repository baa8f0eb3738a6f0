"""MobileNetV4 params with NetsPresso Trainer's field names; attrs only, so the entry module stays light.

A stage is NetsPresso's list of blocks, each a list that starts with the block's kind:

- ``['conv', out_channels, kernel_size, stride]``: conv-norm-act;
- ``['fi', out_channels, hidden_channels, kernel_size, stride]``: fused inverted bottleneck (a full k×k conv to the
  hidden width, then a linear 1×1 projection);
- ``['uir', out_channels, hidden_channels, extra_dw, extra_dw_kernel_size, middle_dw, middle_dw_kernel_size, stride]``:
  universal inverted bottleneck (optional depthwise before the expansion, optional depthwise after it);
- ``['mmqa', out_channels, attention_channel, num_attention_heads, query_pooling_stride, key_val_downsample,
  key_val_downsample_kernel_size, key_val_downsample_stride, stride]``: mobile multi-query attention (one key and
  value head shared by every query head; ``out_channels`` equal to the input's, ``stride`` 1)."""
from __future__ import annotations

from typing import Any, Literal, Optional

import attrs

from nptrain.config.block_list import Block, parse_blocks
from nptrain.errors import ValueAt

# the fields after the kind, per kind: (name, what it takes)
BLOCKS: dict[str, tuple[tuple[str, str], ...]] = {
    "conv": (("out_channels", "int"), ("kernel_size", "int"), ("stride", "stride")),
    "fi": (("out_channels", "int"), ("hidden_channels", "int"), ("kernel_size", "int"), ("stride", "stride")),
    "uir": (("out_channels", "int"), ("hidden_channels", "int"), ("extra_dw", "bool"),
            ("extra_dw_kernel_size", "int?"), ("middle_dw", "bool"), ("middle_dw_kernel_size", "int?"),
            ("stride", "stride")),
    "mmqa": (("out_channels", "int"), ("attention_channel", "int"), ("num_attention_heads", "int"),
             ("query_pooling_stride", "int?"), ("key_val_downsample", "bool?"),
             ("key_val_downsample_kernel_size", "int?"), ("key_val_downsample_stride", "int?"), ("stride", "one")),
}
__all__ = ["BLOCKS", "Block", "MobileNetV4Params", "MobileNetV4Stage"]


@attrs.frozen
class MobileNetV4Stage:
    """One stage: a list of blocks in NetsPresso's list form (see the module docstring)."""

    blocks: tuple[Block, ...]

    @classmethod
    def from_config(cls, value: Any) -> "MobileNetV4Stage":
        """The stage a config wrote; a :class:`~nptrain.errors.ValueAt` naming the block and what it expects."""
        blocks = parse_blocks(value, BLOCKS, family="mobilenetv4", example="uir")
        for i, block in enumerate(blocks):
            _needs(block.kind, block.fields, i)
        return cls(blocks)

    def to_config(self) -> list:
        return [b.to_config() for b in self.blocks]


def _needs(kind: str, f: dict, i: int) -> None:
    """The fields that one choice makes necessary."""
    if kind == "uir":
        for flag, size in (("extra_dw", "extra_dw_kernel_size"), ("middle_dw", "middle_dw_kernel_size")):
            if f[flag] and f[size] is None:
                raise ValueAt(f"block {i} (uir): {flag} is true, so {size} must be given", (i,))
    if kind == "mmqa":
        if f["attention_channel"] % f["num_attention_heads"]:
            raise ValueAt(f"block {i} (mmqa): attention_channel {f['attention_channel']} must be divisible by "
                          f"num_attention_heads {f['num_attention_heads']}", (i,))
        if f["key_val_downsample"] and (f["key_val_downsample_kernel_size"] is None
                                        or f["key_val_downsample_stride"] is None):
            raise ValueAt(f"block {i} (mmqa): key_val_downsample is true, so key_val_downsample_kernel_size "
                          f"and key_val_downsample_stride must be given", (i,))


Norm = Literal["batch_norm", "group_norm", "layer_norm"]
Act = Literal["relu", "relu6", "gelu", "silu", "swish", "hard_swish"]


@attrs.define(kw_only=True)
class MobileNetV4Params:
    stem_out_channel: int = attrs.field(default=32, validator=attrs.validators.ge(1))
    stem_kernel_size: int = attrs.field(default=3, validator=attrs.validators.ge(1))
    stem_stride: Literal[1, 2] = 2
    # a conv-norm-act appended to the last stage (MobileNetV4's 960-wide 1x1)
    final_conv_out_channel: int = attrs.field(default=960, validator=attrs.validators.ge(1))
    final_conv_kernel_size: int = attrs.field(default=1, validator=attrs.validators.ge(1))
    final_conv_stride: Literal[1, 2] = 1
    norm_type: Norm = "batch_norm"
    act_type: Act = "relu"
    # which stages forward returns (0-based); ~: every one (a NetsPresso config's ~ is its last only, written in)
    return_stage_idx: Optional[list[int]] = None
    # initial per-channel scale of each uir / mmqa branch before its residual; ~: none
    layer_scale: Optional[float] = None
