"""Local segmentation datasets: pairing, index and palette masks, and errors that name the file."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nptrain.config.loader import load_config
from nptrain.config.sections import DataConfig, DataPath, PathPattern, SplitPath
from nptrain.data.segmentation import build_seg_dataset, parse_color, resolve_seg_classes
from nptrain.errors import UserError
from nptrain.training.setup import build_data

PALETTE = [(0, 0, 0), (200, 0, 0), (0, 0, 200)]


def _write_pair(root: Path, stem: str, ids: np.ndarray, *, mode: str = "L", size=None, mask_name=None) -> None:
    (root / "img").mkdir(parents=True, exist_ok=True)
    (root / "lbl").mkdir(parents=True, exist_ok=True)
    h, w = size or ids.shape
    Image.fromarray(np.full((h, w, 3), 90, np.uint8)).save(root / "img" / f"{stem}.png")
    name = mask_name or f"{stem}.png"
    if mode == "RGB":
        Image.fromarray(np.array(PALETTE, np.uint8)[ids]).save(root / "lbl" / name)
    elif mode == "P":
        m = Image.frombytes("P", (ids.shape[1], ids.shape[0]), ids.astype(np.uint8).tobytes())
        # a full 256-entry palette, as real VOC-style masks have (index 255 must stay 255 on save)
        m.putpalette([v for c in PALETTE for v in c] + [255] * (3 * (256 - len(PALETTE))))
        m.save(root / "lbl" / name)
    else:
        Image.fromarray(ids.astype(np.uint8)).save(root / "lbl" / name)


def _data(root: Path, **kw) -> DataConfig:
    pattern = kw.pop("pattern", None)
    return DataConfig(path=DataPath(train=SplitPath(image=str(root / "img"), label=str(root / "lbl")),
                                    pattern=pattern), **kw)


IDS = np.array([[0, 1, 1, 2], [0, 255, 2, 2], [1, 1, 0, 0]])


@pytest.mark.parametrize("mode", ["L", "P"])
def test_index_masks_keep_ids_and_ignore(tmp_path, mode):
    _write_pair(tmp_path, "a", IDS, mode=mode)
    ds = build_seg_dataset(_data(tmp_path, id_mapping=["bg", "cat", "dog"]), "train")
    image, target = ds[0]
    assert ds.classes == ["bg", "cat", "dog"] and image.shape == (3, 3, 4)
    assert torch.equal(target["mask"], torch.from_numpy(IDS).long())  # 255 kept for the loss to ignore


def test_rgb_masks_through_pallete_or_colour_id_mapping(tmp_path):
    _write_pair(tmp_path, "a", np.where(IDS == 255, 0, IDS), mode="RGB")
    expected = torch.from_numpy(np.where(IDS == 255, 0, IDS)).long()
    ds = build_seg_dataset(_data(tmp_path, pallete=[list(c) for c in PALETTE]), "train")
    assert ds.classes == ["0", "1", "2"] and torch.equal(ds[0][1]["mask"], expected)
    # the reference's dict form {"(r, g, b)": name}, order = class id
    mapping = {"(0, 0, 0)": "background", "(200, 0, 0)": "red", "[0, 0, 200]": "blue"}
    ds = build_seg_dataset(_data(tmp_path, id_mapping=mapping), "train")
    assert ds.classes == ["background", "red", "blue"] and torch.equal(ds[0][1]["mask"], expected)


def test_unknown_palette_colour_names_file_and_colour(tmp_path):
    _write_pair(tmp_path, "a", np.where(IDS == 255, 0, IDS), mode="RGB")
    ds = build_seg_dataset(_data(tmp_path, pallete=[[0, 0, 0], [200, 0, 0]]), "train")
    with pytest.raises(UserError, match=r"lbl/a\.png: colour\(s\) \(0, 0, 200\) are not in data.pallete"):
        ds[0]
    with pytest.raises(UserError, match=r"a\.png is a colour \(RGB\) image: set data.pallete"):
        build_seg_dataset(_data(tmp_path, id_mapping=["a", "b", "c"]), "train")[0]


def test_image_without_mask_is_named(tmp_path):
    _write_pair(tmp_path, "a", IDS)
    _write_pair(tmp_path, "b", IDS)
    (tmp_path / "lbl" / "b.png").unlink()
    with pytest.raises(UserError, match=r"image .*img/b\.png has no mask in .*lbl"):
        build_seg_dataset(_data(tmp_path, id_mapping=["a", "b", "c"]), "train")


def test_mask_size_mismatch_is_named(tmp_path):
    _write_pair(tmp_path, "a", IDS, size=(3, 5))
    ds = build_seg_dataset(_data(tmp_path, id_mapping=["a", "b", "c"]), "train")
    with pytest.raises(UserError, match=r"mask .*lbl/a\.png is 4x3 but image .*img/a\.png is 5x3"):
        ds[0]


def test_class_ids_outside_mapping_are_named(tmp_path):
    _write_pair(tmp_path, "a", np.array([[0, 7], [3, 255]]))
    ds = build_seg_dataset(_data(tmp_path, id_mapping=["a", "b", "c"]), "train")
    with pytest.raises(UserError, match=r"mask .*a\.png: class id\(s\) 3, 7 are outside 0\.\.2"):
        ds[0]
    # with 4 classes and ignore_index 7 only 255 is left over
    ds = build_seg_dataset(_data(tmp_path, id_mapping=["a", "b", "c", "d"], ignore_index=7), "train")
    with pytest.raises(UserError, match=r"class id\(s\) 255 are outside 0\.\.3 .*ignore_index is 7"):
        ds[0]
    _write_pair(tmp_path, "a", np.array([[0, 7], [3, 1]]))
    assert ds[0][1]["mask"].tolist() == [[0, 7], [3, 1]]


def test_classes_inferred_from_masks_and_pattern_pairing(tmp_path):
    _write_pair(tmp_path, "a", IDS, mask_name="a_mask.png")
    (tmp_path / "lbl" / "notes.txt").write_text("not an image")
    with pytest.raises(UserError, match="has no mask"):
        build_seg_dataset(_data(tmp_path), "train")
    ds = build_seg_dataset(_data(tmp_path, pattern=PathPattern(label=r"(.*)_mask\.png")), "train")
    assert ds.classes == ["0", "1", "2"]  # 0..max id, ignore_index excluded
    assert ds.samples[0][1].name == "a_mask.png"


def test_parse_color_and_palette_conflicts():
    assert parse_color("(1, 2, 3)") == (1, 2, 3) and parse_color([4, 5, 6]) == (4, 5, 6)
    assert parse_color("cat") is None and parse_color([1, 2, 300]) is None
    with pytest.raises(UserError, match="pallete has 2 colours but data.id_mapping has 3"):
        resolve_seg_classes(DataConfig(pallete=[[0, 0, 0], [1, 1, 1]], id_mapping=["a", "b", "c"]))
    with pytest.raises(UserError, match=r"pallete\[1\]: expected \[r, g, b\]"):
        resolve_seg_classes(DataConfig(pallete=[[0, 0, 0], [1, 1]]))


def test_build_data_from_config(small_shapes_dir, write):
    cfg = write("seg.yaml", f"""
        data:
          path:
            root: {small_shapes_dir}
            train: {{image: train/images, label: train/masks}}
            valid: {{image: valid/images, label: valid/masks}}
            pattern: {{image: '(\\d+)\\.png'}}
          id_mapping: [background, disc, square, triangle]
          label_image_mode: P
          pallete: [[0, 0, 0], [220, 60, 60], [60, 180, 75], [70, 110, 230]]
        augmentation:
          train: [{{name: randomcrop, size: 48}}]
        model: {{task: segmentation, name: simple_cnn_seg}}
        environment: {{cache_data: true}}
    """)
    data = build_data(load_config([cfg]))
    assert len(data.train) == 24 and len(data.valid) == 8 and data.classes[1] == "disc"
    image, target = data.train[(0, 3)]
    assert image.shape == (3, 48, 48) and target["mask"].shape == (48, 48) and target["mask"].dtype == torch.long
    assert int(target["mask"].max()) <= 3
