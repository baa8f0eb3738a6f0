"""Entry module (group ``nptrain``): records only, so listing plugins never imports torch."""
from __future__ import annotations

from nptrain import hookimpl
from nptrain.records import ConverterRecord, FullModelRecord, LossRecord

from np_plugin_pidnet.params import PIDNetLossParams, PIDNetParams
from np_plugin_pidnet.presets import VARIANTS, presets

_PRESETS = tuple(f"pidnet_{v}" for v in VARIANTS)


@hookimpl
def nptrain_full_models():
    return [FullModelRecord(name="pidnet", factory="np_plugin_pidnet.model:build", params=PIDNetParams,
                            tasks=("segmentation",),
                            description="PIDNet: three-branch (P detail, I context, D boundary) real-time "
                                        "segmentation network; logits at stride 8, auxiliary P/D heads in "
                                        "training mode only.")]


@hookimpl
def nptrain_losses():
    return [LossRecord(name="pidnet_loss", factory="np_plugin_pidnet.loss:build", params=PIDNetLossParams,
                       tasks=("segmentation",),
                       description="PIDNet objective: CE on the P head, OHEM CE on the main head, balanced "
                                   "boundary BCE on the D head (edges computed from the masks), boundary-aware CE.")]


@hookimpl
def nptrain_presets():
    return presets()


@hookimpl
def nptrain_converters():
    return [
        ConverterRecord(name="pidnet", presets=_PRESETS, factory="np_plugin_pidnet.convert:from_pidnet",
                        description="XuJiacong/PIDNet Cityscapes/CamVid checkpoints (best.pt, "
                                    "checkpoint.pth.tar; 'model.'-prefixed FullModel state dicts or plain)."),
        ConverterRecord(name="pidnet_imagenet", presets=_PRESETS,
                        factory="np_plugin_pidnet.convert:from_pidnet_imagenet",
                        description="XuJiacong/PIDNet ImageNet-pretrained files (PIDNet_*_ImageNet.pth.tar): "
                                    "trunk only; the three segmentation heads are left out for the caller "
                                    "to initialise (load with strict=False)."),
    ]
