"""Stub parsing is strict and anchored; errors name the part; str() gives the stub back."""
import re

import pytest

from nptrain.zoo.stub import StubError, parse_stub

GOOD = [
    "cv/classification/resnet_v1-50/pytorch/nptrain/imagenet/base-none",
    "cv/classification/resnet_v1-50/pytorch/torchvision/imagenet-augmented/pruned85_quant-moderate-edge",
    "cv/segmentation/segformer-b0/onnx/nptrain/ade20k/pruned-aggressive",
    "cv/detection/yolox-s/pytorch/nptrain/coco/arch-conservative-gpu",
]


@pytest.mark.parametrize("text", GOOD)
def test_round_trip(text):
    stub = parse_stub(text)
    assert str(stub) == text
    assert parse_stub("zoo:" + text) == stub


def test_parts():
    s = parse_stub(GOOD[1])
    assert (s.architecture, s.sub_architecture, s.repo, s.dataset, s.training_scheme) == \
        ("resnet_v1", "50", "torchvision", "imagenet", "augmented")
    assert (s.sparse_name, s.sparse_category, s.sparse_target) == ("pruned85_quant", "moderate", "edge")


@pytest.mark.parametrize("text,message", [
    ("cv/classification/resnet/pytorch/nptrain/imagenet", "has 6 part(s); expected 7"),
    ("cv/classification/resnet/pytorch/nptrain/imagenet/base-none/extra", "has 8 part(s)"),
    ("audio/classification/resnet/pytorch/nptrain/imagenet/base-none", "DOMAIN 'audio' is not one of cv"),
    ("cv/pose/resnet/pytorch/nptrain/imagenet/base-none", "SUB_DOMAIN 'pose' is not one of classification, segmentation, detection"),
    ("cv/classification/ResNet/pytorch/nptrain/imagenet/base-none", "ARCHITECTURE 'ResNet' must be lowercase"),
    ("cv/classification/resnet/jax/nptrain/imagenet/base-none", "FRAMEWORK 'jax' is not one of pytorch, onnx"),
    ("cv/classification/resnet/pytorch/nptrain/imagenet/sparse-none", "SPARSE_NAME 'sparse' is not one of"),
    ("cv/classification/resnet/pytorch/nptrain/imagenet/base-huge", "SPARSE_CATEGORY 'huge' is not one of none, conservative"),
    ("cv/classification/resnet/pytorch/nptrain/imagenet/base-none-tpu", "SPARSE_TARGET 'tpu' is not one of"),
    ("cv/classification/resnet/pytorch/nptrain/imagenet/base", "SPARSE_NAME-SPARSE_CATEGORY[-SPARSE_TARGET] expected"),
    ("cv/classification/resnet/pytorch//imagenet/base-none", "REPO '' must be lowercase"),
])
def test_errors_name_the_part(text, message):
    with pytest.raises(StubError, match=re.escape(message)):
        parse_stub(text)
