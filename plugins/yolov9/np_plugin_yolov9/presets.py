"""The eight GELAN / YOLOv9 presets: NetsPresso Trainer 1.4.1's own configs (``config/model/gelan/*.yaml``,
``config/model/yolov9/*.yaml``), block lists, neck widths and head as they are (YOLOv9's tiny/s/m/c)."""
from __future__ import annotations

from nptrain.records import PresetRecord

# per size: (stem width, stage block lists, neck: repeat_num, bu_type, spp, n4, p3, p3→p4, p4, p4→p5, p5)
SIZES: dict[str, tuple] = {
    "tiny": (16, [[['conv', 32, 3, 2], ['elan', 32, 32, False]],
                  [['aconv', 64], ['repncspelan', 64, 64, False, 3]],
                  [['aconv', 96], ['repncspelan', 96, 96, False, 3]],
                  [['aconv', 128], ['repncspelan', 128, 128, False, 3]]],
             (3, "aconv", 128, 96, 64, 48, 96, 64, 128)),
    "s": (32, [[['conv', 64, 3, 2], ['elan', 64, 64, False]],
               [['aconv', 128], ['repncspelan', 128, 128, False, 3]],
               [['aconv', 192], ['repncspelan', 192, 192, False, 3]],
               [['aconv', 256], ['repncspelan', 256, 256, False, 3]]],
          (3, "aconv", 256, 192, 128, 96, 192, 128, 256)),
    "m": (32, [[['conv', 64, 3, 2], ['repncspelan', 128, 128, False, 1]],
               [['aconv', 240], ['repncspelan', 240, 240, False, 1]],
               [['aconv', 360], ['repncspelan', 360, 360, False, 1]],
               [['aconv', 480], ['repncspelan', 480, 480, False, 1]]],
          (1, "aconv", 480, 360, 240, 184, 360, 240, 480)),
    "c": (64, [[['conv', 128, 3, 2], ['repncspelan', 256, 128, False, 1]],
               [['adown', 256], ['repncspelan', 512, 256, False, 1]],
               [['adown', 512], ['repncspelan', 512, 512, False, 1]],
               [['adown', 512], ['repncspelan', 512, 512, False, 1]]],
          (1, "adown", 512, 512, 256, 256, 512, 512, 512)),
}
NECK_FIELDS = ("repeat_num", "bu_type", "spp_channels", "n4_channels", "p3_channels", "p3_to_p4_channels",
               "p4_channels", "p4_to_p5_channels", "p5_channels")


def backbone(size: str, task: str) -> dict:
    stem, stages, _ = SIZES[size]
    params = {"stem_out_channels": stem, "stem_kernel_size": 3, "stem_stride": 2, "act_type": "silu"}
    if task == "detection":
        params["return_stage_idx"] = [1, 2, 3]
    return {"name": "gelan", "params": params, "stage_params": stages}


def architecture(size: str, task: str) -> dict:
    if task == "classification":
        return {"backbone": backbone(size, task), "head": {"name": "fc", "params": {"num_layers": 1}}}
    neck = dict(zip(NECK_FIELDS, SIZES[size][2]), act_type="silu")
    return {"backbone": backbone(size, task), "neck": {"name": "yolov9fpn", "params": neck},
            "head": {"name": "yolo_detection_head", "params": {"reg_max": 16, "use_group": True, "act_type": "silu"}}}


def presets() -> list[PresetRecord]:
    out = []
    for size in SIZES:
        out.append(PresetRecord(name=f"gelan_{size}", task="classification", default_input_size=224,
                                architecture=architecture(size, "classification"),
                                description=f"GELAN-{size} (YOLOv9's backbone, NetsPresso Trainer's block lists) + fc"))
        out.append(PresetRecord(name=f"yolov9_{size}", task="detection", default_input_size=640,
                                architecture=architecture(size, "detection"),
                                losses=({"criterion": "yolov9_loss"},),
                                description=f"YOLOv9-{size}: GELAN + yolov9fpn + DFL head (NetsPresso Trainer's config)"))
    return out
