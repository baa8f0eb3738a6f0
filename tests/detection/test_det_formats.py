"""YOLO txt and COCO json readers: correct pixel boxes, empty images, and errors that name the
file and line (or annotation)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nptrain.detection.formats import load_coco, load_yolo, parse_yolo_label
from nptrain.errors import UserError


def make_image(path: Path, width: int = 100, height: int = 50) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, height)).save(path)
    return path


@pytest.fixture
def yolo(tmp_path: Path) -> Path:
    make_image(tmp_path / "images" / "a.png")
    make_image(tmp_path / "images" / "b.jpg")  # no label file: an image without objects
    make_image(tmp_path / "images" / "c.png")
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.4\n\n1 0.1 0.1 0.2 0.2\n")
    (tmp_path / "labels" / "c.txt").write_text("")
    return tmp_path


def test_yolo_reads_pixel_boxes(yolo: Path):
    samples = load_yolo(yolo / "images", yolo / "labels", num_classes=2)
    assert [s.image.name for s in samples] == ["a.png", "b.jpg", "c.png"]
    a = samples[0]
    assert (a.width, a.height) == (100, 50)
    np.testing.assert_allclose(a.boxes, [[40, 15, 60, 35], [0, 0, 20, 10]], atol=1e-4)
    assert a.classes.tolist() == [0, 1] and a.classes.dtype == np.int64
    assert samples[1].boxes.shape == (0, 4) and samples[2].classes.shape == (0,)


@pytest.mark.parametrize("line,message", [
    ("0 0.5 0.5 0.2", "expected 'class cx cy w h'"),
    ("0 0.5 0.5 0.2 0.4 7", "expected 'class cx cy w h'"),
    ("0 0.5 x 0.2 0.4", "non-numeric"),
    ("1.5 0.5 0.5 0.2 0.4", "class id must be an integer"),
    ("3 0.5 0.5 0.2 0.4", "unknown class id 3"),
    ("-1 0.5 0.5 0.2 0.4", "unknown class id -1"),
    ("0 50 25 20 20", "normalised"),
    ("0 0.05 0.5 0.2 0.4", "outside the 100×50 image"),
    ("0 0.5 0.5 0 0.4", "zero or negative width"),
])
def test_yolo_errors_name_file_and_line(yolo: Path, line: str, message: str):
    (yolo / "labels" / "a.txt").write_text(f"0 0.5 0.5 0.2 0.4\n{line}\n")
    with pytest.raises(UserError, match=message) as err:
        load_yolo(yolo / "images", yolo / "labels", num_classes=2)
    assert f"{yolo / 'labels' / 'a.txt'}:2:" in str(err.value)


def test_yolo_tolerance_clips_small_overshoot():
    boxes, _ = parse_yolo_label("0 0.1 0.5 0.205 0.2", Path("x.txt"), 100, 100, 1)  # x1 = -0.25 px
    np.testing.assert_allclose(boxes, [[0.0, 40.0, 20.25, 60.0]], atol=1e-4)


def test_yolo_orphan_label_and_missing_folder(yolo: Path):
    (yolo / "labels" / "zzz.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    with pytest.raises(UserError, match="zzz.txt"):
        load_yolo(yolo / "images", yolo / "labels", num_classes=2)
    with pytest.raises(UserError, match="folder not found"):
        load_yolo(yolo / "nope", yolo / "labels", num_classes=2)


def coco_doc() -> dict:
    return {"images": [{"id": 7, "file_name": "a.png", "width": 100, "height": 50},
                       {"id": 9, "file_name": "b.png", "width": 64, "height": 64}],
            "categories": [{"id": 3, "name": "cat"}, {"id": 1, "name": "dog"}],
            "annotations": [{"id": 1, "image_id": 7, "category_id": 3, "bbox": [10, 5, 20, 30]},
                            {"id": 2, "image_id": 7, "category_id": 1, "bbox": [0, 0, 100, 50]},
                            {"id": 3, "image_id": 7, "category_id": 1, "bbox": [1, 1, 5, 5], "iscrowd": 1}]}


def write_json(path: Path, doc) -> Path:
    path.write_text(json.dumps(doc, indent=1))
    return path


def test_coco_reads_boxes_classes_and_empty_images(tmp_path: Path):
    samples, names = load_coco(write_json(tmp_path / "ann.json", coco_doc()))
    assert names == ["dog", "cat"]  # category ids ascending: 1 → class 0, 3 → class 1
    assert [s.image for s in samples] == [tmp_path / "a.png", tmp_path / "b.png"]
    np.testing.assert_allclose(samples[0].boxes, [[10, 5, 30, 35], [0, 0, 100, 50]])
    assert samples[0].classes.tolist() == [1, 0]  # the crowd annotation is skipped
    assert samples[1].boxes.shape == (0, 4)
    with pytest.raises(UserError, match="differ from the configured classes"):
        load_coco(tmp_path / "ann.json", class_names=["cat", "dog"])


@pytest.mark.parametrize("edit,message", [
    (lambda d: d["annotations"][0].update(category_id=5), r"annotations\[0\] \(id 1\): unknown category_id 5"),
    (lambda d: d["annotations"][1].update(image_id=8), r"annotations\[1\] \(id 2\): image_id 8 is not in 'images'"),
    (lambda d: d["annotations"][0].update(bbox=[90, 5, 20, 30]), r"annotations\[0\] \(id 1\): box .* outside the 100×50 image"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2, 3]), r"bbox must be \[x, y, width, height\]"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2, 0, 3]), "zero or negative width"),
    (lambda d: d["images"][1].pop("width"), r"images\[1\]: missing 'width'"),
    (lambda d: d["categories"].append({"id": 3}), r"categories\[2\]: duplicate category id 3"),
    (lambda d: d.pop("categories"), "missing 'categories'"),
])
def test_coco_errors_name_the_annotation(tmp_path: Path, edit, message: str):
    doc = coco_doc()
    edit(doc)
    path = write_json(tmp_path / "ann.json", doc)
    with pytest.raises(UserError, match=message) as err:
        load_coco(path)
    assert str(path) in str(err.value)


def test_coco_invalid_json_names_the_line(tmp_path: Path):
    path = tmp_path / "bad.json"
    path.write_text('{\n "images": [],\n "categories": [,]\n}\n')
    with pytest.raises(UserError, match=rf"{path}:3: invalid JSON"):
        load_coco(path)
