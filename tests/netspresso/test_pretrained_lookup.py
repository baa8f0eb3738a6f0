"""``use_pretrained: true`` without a path, as NetsPresso Trainer's configs ship: nptrain looks offline (the local
zoo, then NetsPresso Trainer's own download cache, then timm's safetensors in the Hugging Face hub cache, converted on
load), says which file it uses, loads NetsPresso's ImageNet classifier
into a model of another class count (head fresh) and into a detection model (backbone only), and otherwise stops
with one located line naming NetsPresso's URL and where to put the file, or the torch hub file it found and the
line that would use it (nptrain reads no pickle it was not given)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from nptrain.cli.main import main
from nptrain.config.loader import load_config
from nptrain.config.pretrained import netspresso_url

HERE = Path(__file__).parent
FIXTURES = Path(os.environ.get("NPTRAIN_NPT_PARITY_DIR") or HERE.parents[1].parent / "shared" / "npt-parity")
RESNET18 = FIXTURES / "resnet18-classification"


@pytest.fixture
def caches(tmp_path, monkeypatch) -> Path:
    """An empty home: no zoo, no NetsPresso cache, no torch hub."""
    home = tmp_path / "home"
    home.mkdir()
    for var in ("HOME", "XDG_CACHE_HOME", "TORCH_HOME", "NPTRAIN_ZOO", "HF_HOME", "HF_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    return home


def _model_yaml(tmp_path: Path, task: str = "classification") -> Path:
    """NetsPresso's resnet18 config with use_pretrained: true and no path (for detection: its fpn + RetinaNet)."""
    text = (RESNET18 / "model.yaml").read_text().replace("use_pretrained: False", "use_pretrained: True")
    if task == "detection":
        text = text.replace("task: classification", "task: detection").replace("return_stage_idx: ~",
                                                                              "return_stage_idx: [1, 2, 3]")
        head = text.index("    head:")
        text = text[:head] + """    neck:
      name: fpn
      params: {num_outs: 3, start_level: 0, end_level: -1, add_extra_convs: False, relu_before_extra_convs: False}
    head:
      name: anchor_decoupled_head
      params: {anchor_sizes: [[32], [64], [128]], aspect_ratios: [0.5, 1.0, 2.0], num_layers: 1, norm_type: batch_norm}
  postprocessor: ~
  losses:
    - criterion: retinanet_loss
      weight: ~
"""
    path = tmp_path / f"resnet18-{task}.yaml"
    path.write_text(text)
    return path


def _files(model: Path, task: str) -> list[str]:
    written = HERE / "written"
    own = written / ("vit_tiny" if task == "classification" else "resnet50_detection")
    return [str(p) for p in sorted(own.glob("[!m]*.yaml")) + sorted((written / "common").glob("*.yaml"))] + [str(model)]


pytestmark = pytest.mark.skipif(not RESNET18.is_dir(), reason=f"no {RESNET18}")


def test_nothing_offline_is_one_located_line_with_the_url(caches, tmp_path, tiny_data, capsys):
    model = _model_yaml(tmp_path)
    assert main(["config", "check", *_files(model, "classification"), f"data.path.root={tiny_data / 'cls'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{model}:5:" in err, err  # where use_pretrained is written
    cache = caches / ".cache" / "netspresso_trainer" / "resnet18" / "resnet18_imagenet1k.safetensors"
    assert netspresso_url("resnet18") in err and f"to {cache}" in err and "never downloads" in err, err


def test_a_torch_hub_file_is_named_not_read(caches, tmp_path, tiny_data, capsys):
    hub = caches / ".cache" / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / "resnet18-f37072fd.pth").write_bytes(b"not read")  # a pickle: never opened unasked
    model = _model_yaml(tmp_path)
    assert main(["config", "check", *_files(model, "classification"), f"data.path.root={tiny_data / 'cls'}"]) == 2
    err = capsys.readouterr().err
    assert f"checkpoint.path: torchvision:{hub / 'resnet18-f37072fd.pth'}" in err and "nptrain convert" in err, err


def _netspresso_download(caches: Path) -> Path:
    """NetsPresso's resnet18 checkpoint as its trainer downloads it (the parity folder's layout, 10 classes)."""
    from nptrain.testing.parity import make_state_dict

    info = json.loads((RESNET18 / "source.json").read_text())
    state = make_state_dict(RESNET18, salt=int(info["salt"]))
    path = caches / ".cache" / "netspresso_trainer" / "resnet18" / "resnet18_imagenet1k.safetensors"
    path.parent.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


def test_netspresso_cache_is_used_for_another_class_count_and_for_detection(caches, tmp_path, tiny_data, capsys):
    from nptrain.checkpoints import load_weights
    from nptrain.modeling.builder import build_model

    path = _netspresso_download(caches)
    model = _model_yaml(tmp_path)
    assert main(["config", "check", *_files(model, "classification"), f"data.path.root={tiny_data / 'cls'}"]) == 0
    assert f"use_pretrained: true: {path} (NetsPresso Trainer's download cache)" in capsys.readouterr().err
    loaded = load_config(_files(model, "classification"), [f"data.path.root={tiny_data / 'cls'}"])
    assert loaded.model.checkpoint == str(path)

    classifier = build_model(loaded.resolved, num_classes=3)  # NetsPresso's file has 10 classes
    report = load_weights(classifier, loaded.model.checkpoint)
    assert report.layout == "NetsPresso Trainer" and report.reinitialised, report.lines()
    theirs = load_file(str(path))
    # the stem as NetsPresso saved it, now ours
    assert torch.equal(classifier.state_dict()["backbone.stem.conv.weight"], theirs["backbone.conv1.block.conv.weight"])

    detector = _model_yaml(tmp_path, "detection")
    det_loaded = load_config(_files(detector, "detection"), [f"data.path.root={tiny_data / 'det'}"])
    model = build_model(det_loaded.resolved, num_classes=2)
    report = load_weights(model, det_loaded.model.checkpoint)
    assert report.layout == "NetsPresso Trainer" and report.fresh_parts == ["head", "neck"], report.lines()
    assert report.backbone_tensors == sum(1 for k in theirs if k.startswith("backbone."))


MNV4 = FIXTURES / "mobilenetv4-conv-small-classification"
TIMM_FIXTURE = HERE.parents[1] / "plugins" / "mobilenetv4" / "tests" / "fixtures" / "mobilenetv4_conv_small"


def _mnv4_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "mnv4.yaml"
    path.write_text((MNV4 / "model.yaml").read_text().replace("use_pretrained: False", "use_pretrained: True"))
    return path


def _cls_files(model: Path) -> list[str]:
    return _files(model, "classification")[:-1] + [str(model)]


@pytest.mark.skipif(not MNV4.is_dir() or not TIMM_FIXTURE.is_dir(), reason="needs the mobilenetv4 fixtures")
def test_timm_weights_in_the_hub_cache_are_converted_on_load(caches, tmp_path, tiny_data, capsys):
    """timm's ``model.safetensors`` for MobileNetV4-Conv-Small (the formula's weights in timm's layout, where the
    hub keeps them): config check names it, the model takes the preset's name the converter fills, and the loaded
    weights are the converter's output."""
    from nptrain.checkpoints import load_weights
    from nptrain.modeling.builder import build_model
    from nptrain.testing.parity import make_state_dict
    from np_plugin_mobilenetv4.convert import from_timm

    snapshot = caches / ".cache" / "huggingface" / "hub" / "models--timm--mobilenetv4_conv_small.e2400_r224_in1k" / \
        "snapshots" / "0123abc"
    snapshot.mkdir(parents=True)
    source = make_state_dict(TIMM_FIXTURE)
    save_file({k: v.contiguous() for k, v in source.items()}, str(snapshot / "model.safetensors"))
    model = _mnv4_yaml(tmp_path)
    overrides = [f"data.path.root={tiny_data / 'cls'}"]
    assert main(["config", "check", *_cls_files(model), *overrides]) == 0
    assert f"use_pretrained: true: timm:{snapshot / 'model.safetensors'} (timm's weights" in capsys.readouterr().err
    loaded = load_config(_cls_files(model), overrides)
    assert loaded.model.name == "mobilenetv4_conv_small"  # NetsPresso's mobilenet_v4_conv_small
    net = build_model(loaded.resolved, num_classes=1000)
    load_weights(net, loaded.model.checkpoint, preset=loaded.model.name)
    converted = from_timm(source, preset="mobilenetv4_conv_small")
    assert all(torch.equal(net.state_dict()[k], v) for k, v in converted.items())


@pytest.mark.skipif(not MNV4.is_dir(), reason=f"no {MNV4}")
def test_a_pickled_hub_file_is_named_not_read(caches, tmp_path, tiny_data, capsys, monkeypatch):
    snapshot = caches / "hf" / "models--timm--mobilenetv4_conv_small.e2400_r224_in1k" / "snapshots" / "0123abc"
    snapshot.mkdir(parents=True)
    (snapshot / "pytorch_model.bin").write_bytes(b"not read")
    monkeypatch.setenv("HF_HUB_CACHE", str(caches / "hf"))
    model = _mnv4_yaml(tmp_path)
    assert main(["config", "check", *_cls_files(model), f"data.path.root={tiny_data / 'cls'}"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"{model}:5:" in err, err
    assert f"nptrain convert {snapshot / 'pytorch_model.bin'} --model mobilenetv4_conv_small --from timm" in err, err


def test_a_local_zoo_entry_comes_first(caches, tmp_path, tiny_data, capsys, monkeypatch):
    """An entry of the local zoo whose card names the architecture wins over NetsPresso's cache."""
    from nptrain.zoo.card import ModelCard
    from nptrain.zoo.store import write_manifest

    _netspresso_download(caches)
    stub = "cv/classification/resnet18-none/pytorch/nptrain/mydata/base-none"
    folder = tmp_path / "zoo" / stub
    (folder / "pytorch").mkdir(parents=True)
    (folder / "pytorch" / "model.safetensors").write_bytes((caches / ".cache" / "netspresso_trainer" / "resnet18" /
                                                            "resnet18_imagenet1k.safetensors").read_bytes())
    card = ModelCard(stub=stub, task="classification", architecture="resnet18", dataset="mydata", params=1,
                     num_classes=10)
    (folder / "model.md").write_text(card.render())
    write_manifest(folder)
    monkeypatch.setenv("NPTRAIN_ZOO", str(tmp_path / "zoo"))
    model = _model_yaml(tmp_path)
    assert main(["config", "check", *_files(model, "classification"), f"data.path.root={tiny_data / 'cls'}"]) == 0
    assert f"use_pretrained: true: zoo:{stub} (the local model zoo)" in capsys.readouterr().err
