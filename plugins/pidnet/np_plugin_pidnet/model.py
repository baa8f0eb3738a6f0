"""PIDNet (Xu et al., CVPR 2023): a three-branch real-time segmentation network.

The I (integral) branch is a deep ResNet-like trunk for context, the P (proportional) branch keeps
a stride-8 detail stream that attends to I through Pag fusion, and the D (derivative) branch learns
boundaries from differences of I features. Bag/Light_Bag mixes P and I weighted by sigmoid(D).

Layout and numerics follow XuJiacong/PIDNet; module names are ours (``ConvNormAct`` pairs named
``conv``/``norm`` so pruning tools see them, the class-dependent 1x1 convs named ``classifier``)
and ``convert.py`` maps the original keys. Everything is fx-traceable: spatial sizes come from
feature shapes passed straight to ``F.interpolate`` and the only branches are on Python attributes.
"""
from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

from nptrain.layers import ChannelSum, ConvNormAct

from np_plugin_pidnet.params import PIDNetParams


def _resize_like(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Bilinear resize of ``x`` to ``ref``'s spatial size (align_corners=False, as the original)."""
    return F.interpolate(x, size=ref.shape[-2:], mode="bilinear", align_corners=False)


def _conv_bn(cin: int, cout: int, kernel: int = 1, stride: int = 1) -> ConvNormAct:
    """Conv (no bias) + BatchNorm, no activation: projections, shortcuts, fusion convs."""
    return ConvNormAct(cin, cout, kernel, stride, act=None)


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual; ``last_act=False`` leaves the sum un-activated (``no_relu``)."""

    expansion = 1
    default_last_act = True

    def __init__(self, cin: int, planes: int, stride: int = 1, last_act: bool = True) -> None:
        super().__init__()
        self.conv1 = ConvNormAct(cin, planes, 3, stride)
        self.conv2 = _conv_bn(planes, planes, 3)
        self.downsample = _conv_bn(cin, planes, 1, stride) if stride != 1 or cin != planes else nn.Identity()
        self.act = nn.ReLU() if last_act else nn.Identity()

    def forward(self, x):
        return self.act(self.conv2(self.conv1(x)) + self.downsample(x))


class Bottleneck(nn.Module):
    """1x1 → 3x3 → 1x1 (x2 expansion) residual block; un-activated output unless ``last_act``."""

    expansion = 2
    default_last_act = False  # the original Bottleneck defaults to no_relu=True

    def __init__(self, cin: int, planes: int, stride: int = 1, last_act: bool = False) -> None:
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = ConvNormAct(cin, planes, 1)
        self.conv2 = ConvNormAct(planes, planes, 3, stride)
        self.conv3 = _conv_bn(planes, cout, 1)
        self.downsample = _conv_bn(cin, cout, 1, stride) if stride != 1 or cin != cout else nn.Identity()
        self.act = nn.ReLU() if last_act else nn.Identity()

    def forward(self, x):
        return self.act(self.conv3(self.conv2(self.conv1(x))) + self.downsample(x))


def make_stage(block: type, cin: int, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
    """``blocks`` residual blocks; the first keeps the block's default activation, the last has
    none (PIDNet adds ReLUs between stages itself), the ones between are activated."""
    layers = [block(cin, planes, stride, last_act=block.default_last_act)]
    cin = planes * block.expansion
    for i in range(1, blocks):
        layers.append(block(cin, planes, 1, last_act=i != blocks - 1))
    return nn.Sequential(*layers)


def single_block(block: type, cin: int, planes: int) -> nn.Sequential:
    """One un-activated block (the original ``_make_single_layer``), kept in a Sequential so every
    branch stage has the same ``<stage>.<index>.`` key layout."""
    return nn.Sequential(block(cin, planes, 1, last_act=False))


class NormActConv(nn.Sequential):
    """Pre-activation unit (optional pooling → BN → ReLU → conv), the building block of the
    pyramid pooling modules, Bag and the segmentation heads."""

    def __init__(self, cin: int, cout: int, kernel: int = 1, groups: int = 1, bias: bool = False,
                 pool: Optional[nn.Module] = None) -> None:
        super().__init__()
        if pool is not None:
            self.pool = pool
        self.norm = nn.BatchNorm2d(cin)
        self.act = nn.ReLU()
        self.conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2, groups=groups, bias=bias)


def _pooled_scales(cin: int, branch: int) -> nn.ModuleList:
    """The four pooled context branches (1/2, 1/4, 1/8 average pools and global pooling)."""
    pools = [nn.AvgPool2d(5, 2, 2), nn.AvgPool2d(9, 4, 4), nn.AvgPool2d(17, 8, 8), nn.AdaptiveAvgPool2d(1)]
    return nn.ModuleList(NormActConv(cin, branch, pool=p) for p in pools)


class PAPPM(nn.Module):
    """Parallel aggregation PPM (S/M): the pooled branches are refined together by one grouped conv."""

    def __init__(self, cin: int, branch: int, cout: int) -> None:
        super().__init__()
        self.scale0 = NormActConv(cin, branch)
        self.scales = _pooled_scales(cin, branch)
        self.scale_process = NormActConv(branch * 4, branch * 4, 3, groups=4)
        self.compression = NormActConv(branch * 5, cout)
        self.shortcut = NormActConv(cin, cout)

    def forward(self, x):
        base = self.scale0(x)
        pooled = [_resize_like(scale(x), x) + base for scale in self.scales]
        context = self.scale_process(torch.cat(pooled, 1))
        return self.compression(torch.cat([base, context], 1)) + self.shortcut(x)


class DAPPM(nn.Module):
    """Deep aggregation PPM (L, from DDRNet): each pooled branch is refined on top of the previous one."""

    def __init__(self, cin: int, branch: int, cout: int) -> None:
        super().__init__()
        self.scale0 = NormActConv(cin, branch)
        self.scales = _pooled_scales(cin, branch)
        self.process = nn.ModuleList(NormActConv(branch, branch, 3) for _ in range(4))
        self.compression = NormActConv(branch * 5, cout)
        self.shortcut = NormActConv(cin, cout)

    def forward(self, x):
        outs = [self.scale0(x)]
        for scale, process in zip(self.scales, self.process):
            outs.append(process(_resize_like(scale(x), x) + outs[-1]))
        return self.compression(torch.cat(outs, 1)) + self.shortcut(x)


class PagFM(nn.Module):
    """Pixel-attention-guided fusion: P takes I's feature where their embeddings agree."""

    def __init__(self, channels: int, mid: int) -> None:
        super().__init__()
        self.f_x = _conv_bn(channels, mid)
        self.f_y = _conv_bn(channels, mid)
        self.similarity = ChannelSum()  # a module so channel pruning sees the reduction

    def forward(self, x, y):
        y_q = _resize_like(self.f_y(y), x)
        sim = torch.sigmoid(self.similarity(self.f_x(x) * y_q))
        return (1 - sim) * x + sim * _resize_like(y, x)


class LightBag(nn.Module):
    """Boundary-attention-guided fusion of P, I and D (S/M): two 1x1 projections summed."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv_p = _conv_bn(cin, cout)
        self.conv_i = _conv_bn(cin, cout)

    def forward(self, p, i, d):
        att = torch.sigmoid(d)
        return self.conv_p((1 - att) * i + p) + self.conv_i(i + att * p)


class Bag(nn.Module):
    """Boundary-attention-guided fusion (L): boundary pixels trust P, the rest trust I."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = NormActConv(cin, cout, 3)

    def forward(self, p, i, d):
        att = torch.sigmoid(d)
        return self.conv(att * p + (1 - att) * i)


class SegHead(nn.Module):
    """BN → ReLU → 3x3 conv → BN → ReLU → 1x1 classifier (with bias); stays at the input's stride."""

    def __init__(self, cin: int, hidden: int, num_outputs: int) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, hidden, 3, padding=1, bias=False)
        self.norm2 = nn.BatchNorm2d(hidden)
        self.act = nn.ReLU()
        self.classifier = nn.Conv2d(hidden, num_outputs, 1, bias=True)

    def forward(self, x):
        return self.classifier(self.act(self.norm2(self.conv1(self.act(self.norm1(x))))))


class PIDNet(nn.Module):
    """PIDNet; ``forward`` gives stride-8 logits (eval) or ``{"pred", "extra_p", "extra_d"}`` (training).

    ``forward_all`` runs the auxiliary heads in either mode and returns ``(p_aux, main, boundary)``
    in the original's output order (parity checks use it with eval-mode BatchNorm).
    """

    def __init__(self, params: PIDNetParams, num_classes: int) -> None:
        super().__init__()
        c, light = params.channels, params.m == 2
        self.augment = params.augment
        self.stem = nn.Sequential(ConvNormAct(3, c, 3, 2, bias=True), ConvNormAct(c, c, 3, 2, bias=True))
        self.relu = nn.ReLU()
        # I branch
        self.layer1 = make_stage(BasicBlock, c, c, params.m)
        self.layer2 = make_stage(BasicBlock, c, c * 2, params.m, stride=2)
        self.layer3 = make_stage(BasicBlock, c * 2, c * 4, params.n, stride=2)
        self.layer4 = make_stage(BasicBlock, c * 4, c * 8, params.n, stride=2)
        self.layer5 = make_stage(Bottleneck, c * 8, c * 8, 2, stride=2)
        # P branch
        self.compression3 = _conv_bn(c * 4, c * 2)
        self.compression4 = _conv_bn(c * 8, c * 2)
        self.pag3 = PagFM(c * 2, c)
        self.pag4 = PagFM(c * 2, c)
        self.p_layer3 = make_stage(BasicBlock, c * 2, c * 2, params.m)
        self.p_layer4 = make_stage(BasicBlock, c * 2, c * 2, params.m)
        self.p_layer5 = make_stage(Bottleneck, c * 2, c * 2, 1)
        # D branch: light (S/M) or heavy (L) design, selected by m as in the original
        d3 = c if light else c * 2
        self.d_layer3 = single_block(BasicBlock, c * 2, d3)
        self.d_layer4 = make_stage(Bottleneck, c, c, 1) if light else single_block(BasicBlock, c * 2, c * 2)
        self.diff3 = _conv_bn(c * 4, d3, 3)
        self.diff4 = _conv_bn(c * 8, c * 2, 3)
        self.spp = (PAPPM if light else DAPPM)(c * 16, params.ppm_channels, c * 4)
        self.dfm = (LightBag if light else Bag)(c * 4, c * 4)
        self.d_layer5 = make_stage(Bottleneck, c * 2, c * 2, 1)
        # heads: the auxiliary ones exist only with augment (the original get_pred_model drops them)
        if self.augment:
            self.seghead_p = SegHead(c * 2, params.head_channels, num_classes)
            self.seghead_d = SegHead(c * 2, c, 1)
        self.final_layer = SegHead(c * 4, params.head_channels, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # the original's init: He (fan-out) convs, unit-scale zero-shift BatchNorm
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def _trunk(self, x):
        """Main logits plus the inputs of the P and D auxiliary heads."""
        x = self.stem(x)
        x = self.relu(self.layer2(self.relu(self.layer1(x))))
        p = self.p_layer3(x)
        d = self.d_layer3(x)
        x = self.relu(self.layer3(x))
        # the original applies an in-place ReLU to P (and later D) after saving it for the aux head,
        # so the aux heads see the activated features; make that explicit
        p = self.relu(self.pag3(p, self.compression3(x)))
        d = d + _resize_like(self.diff3(x), d)
        aux_p_in = p
        x = self.relu(self.layer4(x))
        p = self.p_layer4(p)
        d = self.d_layer4(self.relu(d))
        p = self.relu(self.pag4(p, self.compression4(x)))
        d = self.relu(d + _resize_like(self.diff4(x), d))
        aux_d_in = d
        p = self.p_layer5(p)
        d = self.d_layer5(d)
        i = _resize_like(self.spp(self.layer5(x)), d)
        return aux_p_in, self.final_layer(self.dfm(p, i, d)), aux_d_in

    def netspresso_keys(self, keys):
        """NetsPresso Trainer's PIDNet names onto ours (:mod:`nptrain.netspresso_weights`)."""
        # lazy: the converter module is only needed when such a checkpoint is loaded
        from np_plugin_pidnet.convert import netspresso_keys

        return netspresso_keys(keys)

    def forward_all(self, x):
        """``(p_aux, main, boundary)`` at stride 8 regardless of the mode (needs ``augment``)."""
        aux_p_in, main, aux_d_in = self._trunk(x)
        return self.seghead_p(aux_p_in), main, self.seghead_d(aux_d_in)

    def forward(self, x):
        aux_p_in, main, aux_d_in = self._trunk(x)
        if self.training and self.augment:
            return {"pred": main, "extra_p": self.seghead_p(aux_p_in), "extra_d": self.seghead_d(aux_d_in)}
        return main


def build(params: Optional[PIDNetParams], stage_params: list[Any], num_classes: int, task: str) -> PIDNet:
    """Full-model factory (``architecture.full.name: pidnet``); PIDNet has no stage_params."""
    if task != "segmentation":
        raise ValueError(f"pidnet is a segmentation model, not {task}")
    return PIDNet(params or PIDNetParams(), num_classes)
