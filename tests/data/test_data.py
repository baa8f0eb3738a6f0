"""Datasets, the digits writer, tensor transforms and mixing."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nptrain.cli.main import main
from nptrain.config.sections import DataConfig, DataPath, SplitPath
from nptrain.data.datasets import build_dataset
from nptrain.config.augmentation import parse_transforms
from nptrain.data.transforms import Mixing, build_transforms
from nptrain.errors import ConfigError
from nptrain.errors import UserError


def _png(path: Path, value: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((6, 5), value, dtype=np.uint8)).save(path)


def _data(train: str, label: str | None = None, mapping=None) -> DataConfig:
    return DataConfig(path=DataPath(train=SplitPath(image=train, label=label)), id_mapping=mapping)


def test_digits_writer_is_stratified_and_deterministic(tmp_path):
    from nptrain.data.digits import write_digits

    counts = write_digits(tmp_path / "a")
    assert counts == {"train": 1438, "valid": 359}
    write_digits(tmp_path / "b")
    a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.png"))
    b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.png"))
    assert a == b
    per_class = [len(list((tmp_path / "a" / "valid" / str(c)).iterdir())) for c in range(10)]
    assert min(per_class) >= 35 and max(per_class) <= 37
    ds = build_dataset(_data(str(tmp_path / "a" / "train")), "train")
    image, target = ds[(0, 0)]
    assert image.shape == (3, 8, 8) and 0 <= image.min() and image.max() <= 1 and target["label"] == 0


def test_class_folders_and_csv_with_id_mapping(tmp_path):
    for c in ("cat", "dog"):
        _png(tmp_path / "folders" / c / f"{c}.png")
    ds = build_dataset(_data(str(tmp_path / "folders"), mapping=["dog", "cat"]), "train")
    assert [(p.name, y) for p, y in ds.samples] == [("cat.png", 1), ("dog.png", 0)]
    _png(tmp_path / "flat" / "a.png")
    _png(tmp_path / "flat" / "b.png")
    (tmp_path / "labels.csv").write_text("image_id,class\na.png,dog\nb.png,cat\n")
    (tmp_path / "map.json").write_text(json.dumps({"0": "cat", "1": "dog"}))
    for mapping in (["cat", "dog"], {0: "cat", 1: "dog"}, {"cat": 0, "dog": 1}, str(tmp_path / "map.json")):
        ds = build_dataset(_data(str(tmp_path / "flat"), str(tmp_path / "labels.csv"), mapping), "train")
        assert ds.classes == ["cat", "dog"] and [y for _, y in ds.samples] == [1, 0]
    (tmp_path / "bad.csv").write_text("image_id,class\na.png,dog\nb.png,bird\n")
    with pytest.raises(UserError, match=r"bad\.csv:3: class 'bird' is not in data.id_mapping"):
        build_dataset(_data(str(tmp_path / "flat"), str(tmp_path / "bad.csv"), ["cat", "dog"]), "train")
    with pytest.raises(UserError, match=r"class folder\(s\) dog are not in data.id_mapping"):
        build_dataset(_data(str(tmp_path / "folders"), mapping=["cat"]), "train")


def test_missing_folder_and_corrupt_image_name_the_file(tmp_path, monkeypatch, capsys):
    with pytest.raises(UserError, match="folder not found: .*nowhere"):
        build_dataset(_data(str(tmp_path / "nowhere")), "train")
    for split in ("train", "valid"):
        for c in ("0", "1"):
            _png(tmp_path / split / c / "ok.png")
    (tmp_path / "train" / "1" / "broken.png").write_bytes(b"not a png at all")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(textwrap.dedent("""
        data: {path: {train: {image: train}, valid: {image: valid}}}
        augmentation: {train: [{name: resize, size: 8}], inference: [{name: resize, size: 8}]}
        model: {name: simple_cnn}
        training: {epochs: 1}
        environment: {batch_size: 2}
    """))
    monkeypatch.chdir(tmp_path)  # relative data paths resolve against the current directory
    assert main(["run", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nptrain: error: cannot read image train/1/broken.png") and err.count("\n") == 1
    assert main(["run", str(cfg), "data.path.valid.image=missing"]) == 2
    assert "data.path.valid.image: folder not found: missing" in capsys.readouterr().err


def test_unknown_transform_is_located_with_suggestion(tmp_path, capsys):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("model: {name: simple_cnn}\naugmentation:\n  train:\n    - {name: randomhorizontalfilp}\n")
    assert main(["run", str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == (f"nptrain: error: {cfg}:4:14: augmentation.train[0].name: unknown transform "
                      "'randomhorizontalfilp' (did you mean 'randomhorizontalflip'?)")
    # reported together with the other problems run would meet: no data splits
    assert err[1:] and all(line.startswith(f"nptrain: error: {cfg}: data.path.") for line in err[1:])


def test_geometry_follows_masks_and_is_seeded():
    pipe, mixing = build_transforms(parse_transforms([
        {"name": "randomresizedcrop", "size": [8, 6]}, {"name": "randomhorizontalflip", "p": 1.0},
        {"name": "pad", "size": 10}, {"name": "centercrop", "size": 9},
        {"name": "colorjitter", "brightness": 0.3, "contrast": 0.3, "saturation": 0.3, "hue": 0.1},
        {"name": "normalize"}]))
    assert mixing is None
    image = torch.rand(3, 20, 16)
    mask = torch.arange(20 * 16).view(20, 16)
    out1, t1 = pipe(image, {"mask": mask}, torch.Generator().manual_seed(5))
    out2, t2 = pipe(image, {"mask": mask}, torch.Generator().manual_seed(5))
    assert out1.shape == (3, 9, 9) and t1["mask"].shape == (9, 9)
    assert torch.equal(out1, out2) and torch.equal(t1["mask"], t2["mask"])
    flip, _ = build_transforms(parse_transforms([{"name": "randomverticalflip", "p": 1.0}]))
    img, tgt = flip(image, {"mask": mask}, torch.Generator())
    assert torch.equal(img, image.flip(-2)) and torch.equal(tgt["mask"], mask.flip(-2))


@pytest.mark.parametrize("kind", ["mixup", "cutmix"])
def test_mixing_changes_inputs_and_targets(kind):
    images = torch.rand(8, 3, 16, 16)
    labels = torch.arange(8) % 4
    mix = Mixing(**{kind: [1.0, 1.0]})
    out, soft = mix(images, labels, 4, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and not torch.equal(out, images)
    assert soft.shape == (8, 4) and torch.allclose(soft.sum(1), torch.ones(8))
    assert not torch.equal(soft, torch.nn.functional.one_hot(labels, 4).float())
    # a training config accepts it at the end of augmentation.train; inference rejects it
    _, m = build_transforms(parse_transforms([{"name": "resize", "size": 8}, {"name": "mixing", kind: [0.2, 1.0]}]))
    assert isinstance(m, Mixing)
    with pytest.raises(ConfigError, match=r"augmentation\.inference\[0\]\.name: mixing acts on training batches"):
        parse_transforms([{"name": "mixing", kind: [0.2, 1.0]}], "inference")
