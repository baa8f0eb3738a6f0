"""The original YOLOv9 weights (WongKinYiu's YOLO as MultimediaTechLab/YOLO builds it), converted, reproduce the
original code's outputs (fixtures made from its repository's code in a side venv: tests/fixtures/yolov9_{tiny,c},
../shared/parity's format), every file form agrees, and bad files fail loudly."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import nptrain
from nptrain.errors import ConversionError
from nptrain.testing.converters import assert_file_forms_agree
from nptrain.testing.parity import assert_parity, load_input, make_state_dict, source_info

from np_plugin_yolov9.convert import MAIN_HEAD, from_original

FIXTURES = Path(__file__).parent / "fixtures"
SIZES = ("yolov9_tiny", "yolov9_c")  # tiny: AConv down-steps, c: ADown


def _source(size: str) -> dict:
    return make_state_dict(FIXTURES / size, salt=int(source_info(FIXTURES / size)["salt"]))


@pytest.mark.parametrize("size", SIZES)
def test_parity_with_the_original(size):
    torch.set_flush_denormal(True)
    source = _source(size)
    model = nptrain.create_model(size, num_classes=80).eval()
    converted = from_original(source, preset=size)
    auxiliary = sum(v.numel() for k, v in source.items() if int(k.split(".")[1]) > MAIN_HEAD
                    and not k.endswith(("running_mean", "running_var", "num_batches_tracked")))  # parameters only
    assert sum(p.numel() for p in model.parameters()) == source_info(FIXTURES / size)["params"] - auxiliary
    model.load_state_dict(converted, strict=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            raw = model.head.raw_levels(model.neck(model.backbone(load_input(FIXTURES / size))))
    finally:
        torch.set_num_threads(threads)
    ours = {}
    for level, stride in zip(raw, (8, 16, 32)):
        # the original returns its bin logits rearranged (B, reg_max, 4, h, w), flattened bin-major in the fixture;
        # the raw map here is side-major (channel side * 16 + bin), as its conv writes it
        ours[f"anchor_{stride}"] = level[:, :64].unflatten(1, (4, 16)).transpose(1, 2).flatten(1, 2)
        ours[f"class_{stride}"] = level[:, 64:]
    report = assert_parity(ours, FIXTURES / size)
    assert max(report.values()) < 0.5


def test_file_forms_agree(tmp_path):
    """A DataParallel-wrapped .pth without BatchNorm counters, `nptrain convert` and `checkpoint: yolov9:FILE`."""
    assert_file_forms_agree(_source("yolov9_tiny"), source_name="yolov9", preset="yolov9_tiny", tmp_path=tmp_path,
                            num_classes=80, task="detection")


def test_unknown_missing_and_other_size_fail_loudly():
    source = _source("yolov9_tiny")
    with pytest.raises(ConversionError, match="unmapped source key.*extra.weight"):
        from_original({**source, "extra.weight": torch.zeros(1)}, preset="yolov9_tiny")
    partial = {k: v for k, v in source.items() if not k.startswith("model.12.")}
    with pytest.raises(ConversionError, match="unfilled"):
        from_original(partial, preset="yolov9_tiny")
    with pytest.raises(ConversionError):
        from_original(source, preset="yolov9_s")
