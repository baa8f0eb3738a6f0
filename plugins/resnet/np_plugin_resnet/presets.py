"""resnet18/34/50/101 presets (plain data)."""
from __future__ import annotations

from nptrain.records import PresetRecord

DEPTHS = {18: ("basicblock", [2, 2, 2, 2]), 34: ("basicblock", [3, 4, 6, 3]),
          50: ("bottleneck", [3, 4, 6, 3]), 101: ("bottleneck", [3, 4, 23, 3])}
# torchvision's parameter counts with the 1000-class fc: the presets reproduce them exactly
PARAMS = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032, 101: 44_549_160}


def backbone(depth: int) -> dict:
    block, blocks = DEPTHS[depth]
    return {"name": "resnet", "params": {"block_type": block},
            "stage_params": [{"channels": c, "num_blocks": n} for c, n in zip((64, 128, 256, 512), blocks)]}


def presets() -> list[PresetRecord]:
    out = [PresetRecord(name=f"resnet{d}", task="classification",
                        architecture={"backbone": backbone(d), "head": {"name": "fc"}},
                        description=f"ResNet-{d} (torchvision layout, {PARAMS[d] / 1e6:.1f}M params with 1000 classes)",
                        # NHWC: 1.13x faster resnet50 train steps on CPU (docs/benchmarks.md#memory-format)
                        memory_format="channels_last")
           for d in DEPTHS]
    # dense-task variants reuse other plugins' heads (building them needs np-plugin-segformer)
    out.append(PresetRecord(name="resnet50", task="segmentation", default_input_size=512,
                            architecture={"backbone": backbone(50),
                                          "head": {"name": "all_mlp_decoder", "params": {"intermediate_channels": 256}}},
                            description="ResNet-50 + SegFormer all-MLP decoder (needs np-plugin-segformer)"))
    # detection: the stride 8/16/32 maps (layer2-4) through the core's fpn into the core's YOLOX head
    det_backbone = backbone(50)
    det_backbone["params"] = {**det_backbone["params"], "return_stage_idx": [1, 2, 3]}
    out.append(PresetRecord(name="resnet50", task="detection", default_input_size=640,
                            architecture={"backbone": det_backbone,
                                          "neck": {"name": "fpn", "params": {"out_channels": 256, "num_outs": 3}},
                                          "head": {"name": "anchor_free_decoupled_head"}},
                            losses=({"criterion": "yolox_loss"},),
                            description="ResNet-50 (layer2-4) + fpn + anchor-free decoupled (YOLOX) head"))
    return out
