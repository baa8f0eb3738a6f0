"""``yolofastest_loss``: NetsPresso Trainer 1.4.1 trains YOLO-FastestV2 with YOLOX's loss on the decoded anchor
boxes (SimOTA around the cell centres, GIoU, objectness and class BCE, no L1); this is the core's ``yolox_loss``
with those settings. A validation loss gets the eval output without anchor points: they are rebuilt from
``targets['image_size']``, the loss's ``strides`` and its number of anchors per location (the head's order:
level, anchor, row-major)."""
from __future__ import annotations

from typing import Any, Optional

import torch

from nptrain.builtin.detection_params import YOLOXLossParams
from nptrain.detection.assigner import grid_sizes, make_anchors
from nptrain.detection.loss import YOLOXLoss

from np_plugin_yolofastest.params import YOLOFastestLossParams


class YOLOFastestLoss(YOLOXLoss):
    def __init__(self, params: YOLOFastestLossParams) -> None:
        super().__init__(YOLOXLossParams(use_l1=False, iou_loss="giou", iou_weight=params.iou_weight,
                                         obj_weight=params.obj_weight, cls_weight=params.cls_weight,
                                         center_radius=params.center_radius, strides=list(params.strides)))
        self.num_anchors = len(params.anchors[0]) // 2
        self.strides = list(params.strides)

    def _anchor_points(self, num_rows: int, image_size, device) -> torch.Tensor:
        if image_size is None:
            raise ValueError("yolofastest_loss on decoded outputs needs targets['image_size'] to rebuild the grid")
        sizes = grid_sizes(int(image_size[0]), int(image_size[1]), self.strides)
        points = torch.cat([make_anchors([hw], [s], device).repeat(self.num_anchors, 1)
                            for hw, s in zip(sizes, self.strides)])
        if points.shape[0] != num_rows:
            raise ValueError(f"yolofastest_loss: {self.num_anchors} anchors per location at strides {self.strides} "
                             f"give {points.shape[0]} rows for a {tuple(image_size)} input, the output has {num_rows}: "
                             "give the loss the head's anchors")
        return points

    def forward(self, outputs: Any, targets: dict) -> torch.Tensor:
        if not (isinstance(outputs, dict) and "anchors" in outputs):
            pred = outputs["pred"] if isinstance(outputs, dict) else outputs
            outputs = {"pred": pred, "anchors": self._anchor_points(pred.shape[1], targets.get("image_size"),
                                                                    pred.device)}
        return super().forward(outputs, targets)


def build(params: Optional[YOLOFastestLossParams]) -> YOLOFastestLoss:
    return YOLOFastestLoss(params or YOLOFastestLossParams())
