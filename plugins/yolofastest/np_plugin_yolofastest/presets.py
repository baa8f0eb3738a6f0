"""The ``yolo_fastest_v2`` preset: NetsPresso Trainer 1.4.1's ``config/model/yolo-fastest-v2`` as it is
(ShuffleNetV2 0.5x, LightFPN 72, two levels of three COCO anchors)."""
from __future__ import annotations

from nptrain.records import PresetRecord

from np_plugin_yolofastest.params import _default_anchors


def presets() -> list[PresetRecord]:
    anchors = _default_anchors()
    return [PresetRecord(
        name="yolo_fastest_v2", task="detection", default_input_size=352,
        architecture={"backbone": {"name": "shufflenetv2", "params": {"model_size": "0.5x"}},
                      "neck": {"name": "lightfpn", "params": {"out_channels": 72}},
                      "head": {"name": "yolo_fastest_head_v2", "params": {"anchors": anchors}}},
        losses=({"criterion": "yolofastest_loss", "anchors": anchors},),
        description="YOLO-FastestV2: ShuffleNetV2 0.5x + LightFPN + anchor head (NetsPresso Trainer's config)")]
