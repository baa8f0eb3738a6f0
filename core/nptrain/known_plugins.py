"""First-party providers and the distribution that adds each, for "pip install …" hints."""
from __future__ import annotations

KNOWN: dict[str, str] = {
    # backbones / full models / heads / losses / converters
    "resnet": "np-plugin-resnet",
    "torchvision": "np-plugin-resnet or np-plugin-mobilenetv3",
    "timm": "np-plugin-mobilenetv4 or np-plugin-mixnet",
    "vit": "np-plugin-vit",
    "mobilevit": "np-plugin-mobilevit",
    "mobilenetv3": "np-plugin-mobilenetv3",
    "mobilenetv4": "np-plugin-mobilenetv4",
    "mixnet": "np-plugin-mixnet",
    "mlcvnets": "np-plugin-vit or np-plugin-mobilevit",
    "mixtransformer": "np-plugin-segformer",
    "all_mlp_decoder": "np-plugin-segformer",
    "hf": "np-plugin-segformer",
    "efficientformer": "np-plugin-efficientformer",
    "efficientformer_head": "np-plugin-efficientformer",
    "snap": "np-plugin-efficientformer",
    "snap_nodist": "np-plugin-efficientformer",
    "pidnet_imagenet": "np-plugin-pidnet",
    "pidnet": "np-plugin-pidnet",
    "pidnet_loss": "np-plugin-pidnet",
    "gelan": "np-plugin-yolov9",
    "yolov9fpn": "np-plugin-yolov9",
    "yolo_detection_head": "np-plugin-yolov9",
    "yolov9_loss": "np-plugin-yolov9",
    "yolov9": "np-plugin-yolov9",
    "shufflenetv2": "np-plugin-yolofastest",
    "lightfpn": "np-plugin-yolofastest",
    "yolo_fastest_head_v2": "np-plugin-yolofastest",
    "yolofastest_loss": "np-plugin-yolofastest",
    "yolo_fastest_v2": "np-plugin-yolofastest",
    "yolofastest": "np-plugin-yolofastest",
    # presets
    **{f"resnet{d}": "np-plugin-resnet" for d in (18, 34, 50, 101)},
    "vit_tiny": "np-plugin-vit",
    **{f"mobilevit_{s}": "np-plugin-mobilevit" for s in ("s", "xs", "xxs")},
    **{f"mobilenet_v3_{s}": "np-plugin-mobilenetv3" for s in ("small", "large")},
    **{f"mobilenetv4_{s}": "np-plugin-mobilenetv4"
       for s in ("conv_small", "conv_medium", "conv_large", "hybrid_medium", "hybrid_large")},
    **{f"mixnet_{s}": "np-plugin-mixnet" for s in ("s", "m", "l")},
    **{f"mit_b{i}": "np-plugin-segformer" for i in range(6)},
    "segformer_b0": "np-plugin-segformer",
    **{f"efficientformer_{s}": "np-plugin-efficientformer" for s in ("l1", "l3", "l7")},
    **{f"pidnet_{s}": "np-plugin-pidnet" for s in ("s", "m", "l")},
    **{f"{family}_{s}": "np-plugin-yolov9" for family in ("gelan", "yolov9") for s in ("tiny", "s", "m", "c")},
}


def install_hint(name: str) -> str:
    dist = KNOWN.get(name)
    return f" (pip install {dist} provides it)" if dist else ""
