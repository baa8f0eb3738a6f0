"""The state-dict layout of Megvii's ``YOLOX(YOLOPAFPN(depth, width), YOLOXHead(classes, width))``, written
from the original construction rules (``yolox/models/{darknet,network_blocks,yolo_pafpn,yolo_head}.py``)
and independent of our model, so parameter counts and converter coverage of yolox_tiny/m/l/x (which have
no fixture) are checked against the original's rules rather than against our own code."""
from __future__ import annotations

import torch

Layout = list[tuple[str, tuple[int, ...]]]


def megvii_layout(depth: float, width: float, depthwise: bool = False, num_classes: int = 80) -> Layout:
    """``(name, shape)`` of every ``state_dict()`` entry, in the original order."""
    out: Layout = []

    def base_conv(p: str, cin: int, cout: int, k: int, groups: int = 1) -> None:  # BaseConv: conv (no bias) + bn
        out.append((f"{p}.conv.weight", (cout, cin // groups, k, k)))
        out.extend((f"{p}.bn.{leaf}", (cout,)) for leaf in ("weight", "bias", "running_mean", "running_var"))
        out.append((f"{p}.bn.num_batches_tracked", ()))

    def conv(p: str, cin: int, cout: int, k: int, dw: bool) -> None:  # Conv = DWConv if depthwise else BaseConv
        if dw:
            base_conv(f"{p}.dconv", cin, cin, k, groups=cin)
            base_conv(f"{p}.pconv", cin, cout, 1)
        else:
            base_conv(p, cin, cout, k)

    def csp(p: str, cin: int, cout: int, n: int) -> None:  # CSPLayer, expansion 0.5; bottlenecks expansion 1.0
        hidden = int(cout * 0.5)
        base_conv(f"{p}.conv1", cin, hidden, 1)
        base_conv(f"{p}.conv2", cin, hidden, 1)
        base_conv(f"{p}.conv3", 2 * hidden, cout, 1)
        for i in range(n):
            base_conv(f"{p}.m.{i}.conv1", hidden, hidden, 1)
            conv(f"{p}.m.{i}.conv2", hidden, hidden, 3, depthwise)

    # CSPDarknet
    bc, bd = int(width * 64), max(round(depth * 3), 1)
    b = "backbone.backbone"
    base_conv(f"{b}.stem.conv", 3 * 4, bc, 3)
    for stage, (cin, cout, n) in enumerate([(bc, bc * 2, bd), (bc * 2, bc * 4, bd * 3), (bc * 4, bc * 8, bd * 3)], 2):
        conv(f"{b}.dark{stage}.0", cin, cout, 3, depthwise)
        csp(f"{b}.dark{stage}.1", cout, cout, n)
    conv(f"{b}.dark5.0", bc * 8, bc * 16, 3, depthwise)
    base_conv(f"{b}.dark5.1.conv1", bc * 16, bc * 8, 1)  # SPPBottleneck: hidden = in // 2, 3 pools
    base_conv(f"{b}.dark5.1.conv2", bc * 8 * 4, bc * 16, 1)
    csp(f"{b}.dark5.2", bc * 16, bc * 16, bd)
    # PAFPN on in_channels 256/512/1024 scaled by width, CSP depth round(3 * depth)
    c0, c1, c2 = (int(c * width) for c in (256, 512, 1024))
    n = round(3 * depth)
    base_conv("backbone.lateral_conv0", c2, c1, 1)
    csp("backbone.C3_p4", int(2 * 512 * width), c1, n)
    base_conv("backbone.reduce_conv1", c1, c0, 1)
    csp("backbone.C3_p3", int(2 * 256 * width), c0, n)
    conv("backbone.bu_conv2", c0, c0, 3, depthwise)
    csp("backbone.C3_n3", int(2 * 256 * width), c1, n)
    conv("backbone.bu_conv1", c1, c1, 3, depthwise)
    csp("backbone.C3_n4", int(2 * 512 * width), c2, n)
    # YOLOXHead: ModuleLists in construction order cls_convs, reg_convs, cls_preds, reg_preds, obj_preds, stems
    hidden = int(256 * width)
    for branch in ("cls_convs", "reg_convs"):
        for level in range(3):
            for j in range(2):
                conv(f"head.{branch}.{level}.{j}", hidden, hidden, 3, depthwise)
    for kind, cout in (("cls_preds", num_classes), ("reg_preds", 4), ("obj_preds", 1)):
        for level in range(3):
            out.extend([(f"head.{kind}.{level}.weight", (cout, hidden, 1, 1)), (f"head.{kind}.{level}.bias", (cout,))])
    for level, cin in enumerate((c0, c1, c2)):
        base_conv(f"head.stems.{level}", cin, hidden, 1)
    return out


def param_count(layout: Layout) -> int:
    buffers = ("running_mean", "running_var", "num_batches_tracked")
    return sum(torch.Size(shape).numel() for name, shape in layout if not name.endswith(buffers))
