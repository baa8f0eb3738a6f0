"""Building blocks shared by every model family (MetaFormer blocks, conv-norm-act, drop path)."""
from nptrain.layers.common import (ChannelSum, ConvLayer, ConvNormAct, DropPath, LayerScale, make_activation, make_norm,
                                  returned_stages)
from nptrain.layers.metaformer import MetaFormerBlock, Mlp, MultiHeadSelfAttention
from nptrain.layers.rearranged import Rearranged, literal_forward

__all__ = [
    "ChannelSum", "ConvLayer", "ConvNormAct", "DropPath", "LayerScale", "make_activation", "make_norm",
    "MetaFormerBlock", "Mlp", "MultiHeadSelfAttention", "Rearranged", "literal_forward", "returned_stages",
]
