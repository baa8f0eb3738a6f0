"""Images are read faithfully or refused naming the file: 16-bit and float scaled to [0, 1], alpha
dropped with one note, decompression bombs and corrupt files found from the header before training."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nptrain.cli.main import main
from nptrain.data.datasets import read_image
from nptrain.errors import UserError


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width`` x ``height`` RGB pixels and whose data is a few bytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    return path


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    ramp = (np.arange(32 * 32).reshape(32, 32) * 64).astype(np.uint16)  # 0 .. 65472
    Image.fromarray(ramp).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    image = read_image(tmp_path / "g16.png")
    expected = np.rint(ramp * (255.0 / 65535.0)).astype(np.uint8)
    assert image.shape == (3, 32, 32)
    assert np.array_equal(image[0].numpy(), expected) and np.array_equal(image[2].numpy(), expected)
    assert float((image == 255).float().mean()) < 0.01  # was 99.6 % before


def test_float_tiff_in_unit_range_is_scaled_and_outside_is_refused(tmp_path):
    values = np.linspace(0.0, 1.0, 24 * 16, dtype=np.float32).reshape(16, 24)
    Image.fromarray(values).save(tmp_path / "f.tif")
    image = read_image(tmp_path / "f.tif")
    assert image.shape == (3, 16, 24)
    assert np.array_equal(image[1].numpy(), np.rint(values * 255.0).astype(np.uint8))
    Image.fromarray(values * 1000.0).save(tmp_path / "big.tif")
    with pytest.raises(UserError, match=r"^image .*big\.tif: float pixels in \[0, 1000\]; nptrain reads float "
                                        r"images with values in \[0, 1\]"):
        read_image(tmp_path / "big.tif")


def test_alpha_is_dropped_with_one_note(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("nptrain.data.image_io._alpha_said", False)  # a fresh process
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 10
    for name in ("a.png", "b.png"):
        Image.fromarray(rgba).save(tmp_path / name)
    assert int(read_image(tmp_path / "a.png")[0, 0, 0]) == 200
    read_image(tmp_path / "b.png")
    err = capsys.readouterr().err
    assert err.count("alpha channel") == 1
    assert f"note: {tmp_path / 'a.png'} has an alpha channel; nptrain drops it" in err


@pytest.mark.parametrize("side", [10_000, 100_000])  # past Pillow's warning, past its error threshold
def test_decompression_bomb_header_is_refused(side, tmp_path):
    bomb = png_header_only(tmp_path / "bomb.png", side, side)
    with pytest.raises(UserError, match=rf"^image {bomb} is too large to read: Image size \({side * side} pixels\) "
                                        r"exceeds limit"):
        read_image(bomb)


def test_segmentation_and_detection_readers_bound_sizes_too(tmp_path):
    from nptrain.data.segmentation import read_mask
    from nptrain.detection.formats import load_yolo

    bomb = png_header_only(tmp_path / "m.png", 20_000, 20_000)
    with pytest.raises(UserError, match=rf"^mask {bomb} is too large to read"):
        read_mask(bomb, num_classes=3, ignore_index=255)
    Image.fromarray(np.zeros((4, 4), np.float32)).save(tmp_path / "float_mask.tif")
    with pytest.raises(UserError, match=r"float_mask\.tif has pixel mode 'F'; masks hold integer class ids"):
        read_mask(tmp_path / "float_mask.tif", num_classes=3, ignore_index=255)
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    png_header_only(tmp_path / "images" / "big.png", 20_000, 20_000)
    with pytest.raises(UserError, match=r"^image .*big\.png is too large to read"):
        load_yolo(tmp_path / "images", tmp_path / "labels", num_classes=2)


@pytest.mark.parametrize("bad", ["corrupt", "bomb", "float"])
def test_bad_image_stops_the_run_before_its_directory_exists(bad, tiny_config, tiny_data, tmp_path, capsys):
    """Without environment.cache_data nothing is decoded up front: the header check of every file
    still finds the bad one before the run directory is created."""
    target = tiny_data / "train" / "c1" / "zz_bad.png"
    if bad == "corrupt":
        target.write_bytes(b"not an image at all")
    elif bad == "bomb":
        png_header_only(target, 12_000, 12_000)
    else:
        target = target.with_suffix(".tif")
        Image.fromarray(np.full((12, 12), 3.0, np.float32)).save(target)
    code = main(["run", *tiny_config("environment: {cache_data: false}\n"), "--name", "bad"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and str(target) in err and "internal error" not in err
    assert not (tmp_path / "runs").exists()


def test_segmentation_mask_size_mismatch_found_from_headers(tmp_path):
    from nptrain.data.segmentation import SegmentationDataset

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "i.png")
    Image.fromarray(np.zeros((8, 6), np.uint8)).save(tmp_path / "m.png")
    ds = SegmentationDataset([(tmp_path / "i.png", tmp_path / "m.png")], ["a", "b"])
    with pytest.raises(UserError, match=r"mask .*m\.png is 6x8 but image .*i\.png is 8x8"):
        ds.check_files()
