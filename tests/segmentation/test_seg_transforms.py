"""Geometric transforms move masks exactly like images; colour transforms leave masks alone."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nptrain.config.augmentation import parse_transforms
from nptrain.config.loader import load_config
from nptrain.data.transforms import build_transforms
from nptrain.errors import ConfigError

K = 3  # classes in the test pattern


def _pattern(h: int = 20, w: int = 28, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A blocky random mask and an image whose channels are the mask's one-hot code: any pixel
    the image and mask disagree on shows a misalignment."""
    gen = torch.Generator().manual_seed(seed)
    blocks = torch.randint(0, K, (h // 4, w // 4), generator=gen)
    mask = blocks.repeat_interleave(4, 0).repeat_interleave(4, 1)
    return F.one_hot(mask, K).permute(2, 0, 1).float(), mask


def _assert_aligned(image: torch.Tensor, mask: torch.Tensor, ignore: int = 255, fill: float = 0.0) -> None:
    assert image.shape[-2:] == mask.shape
    labelled = mask != ignore
    assert torch.equal(image.argmax(0)[labelled], mask[labelled])
    assert (image[:, ~labelled] == fill).all()  # padding: image filled, mask ignored


@pytest.mark.parametrize("entries", [
    [{"name": "randomhorizontalflip", "p": 1.0}],
    [{"name": "randomverticalflip", "p": 1.0}],
    [{"name": "randomcrop", "size": [12, 16]}],
    [{"name": "centercrop", "size": 32}],                      # pads then crops
    [{"name": "pad", "size": [25, 35]}],
    [{"name": "pad", "padding": 3}],
    [{"name": "randomcrop", "size": 40}],                      # larger than the image: padded
    [{"name": "randomresizedcrop", "size": 24, "scale": [0.3, 1.0], "interpolation": "nearest"}],
    [{"name": "resize", "size": [37, 51], "interpolation": "nearest"}],
    [{"name": "resize", "size": 12, "resize_criteria": "short", "interpolation": "nearest"}],
])
def test_geometry_keeps_mask_aligned(entries):
    image, mask = _pattern()
    tf, _ = build_transforms(parse_transforms(entries, "train", "segmentation"))
    for seed in range(5):
        out, target = tf(image, {"mask": mask}, torch.Generator().manual_seed(seed))
        _assert_aligned(out, target["mask"])
        assert target["mask"].dtype == torch.long


def test_flip_and_crop_of_known_pattern():
    mask = torch.arange(12).view(3, 4)
    image = mask[None].float().repeat(3, 1, 1)
    tf, _ = build_transforms(parse_transforms([{"name": "randomhorizontalflip", "p": 1.0},
                                               {"name": "centercrop", "size": [1, 2]}], "train", "segmentation"))
    out, target = tf(image, {"mask": mask}, torch.Generator())
    assert target["mask"].tolist() == [[6, 5]] and out[0].tolist() == [[6.0, 5.0]]


def test_bilinear_resize_keeps_masks_on_pixel_centres():
    """Bilinear images and nearest masks sample the same centres: wherever the resized image is
    pure one class (no blending across a block edge), the mask has that class."""
    image, mask = _pattern(32, 32)
    for size in ([45, 45], [20, 27], [64, 96]):
        tf, _ = build_transforms(parse_transforms([{"name": "resize", "size": size}], "inference", "segmentation"))
        out, target = tf(image, {"mask": mask}, torch.Generator())
        pure = out.max(0).values > 0.999
        assert pure.float().mean() > 0.4
        assert torch.equal(out.argmax(0)[pure], target["mask"][pure]), size
        assert set(target["mask"].unique().tolist()) <= set(range(K))  # ids are never blended


def test_pad_uses_ignore_index_and_colour_transforms_skip_masks():
    image, mask = _pattern()
    tf, _ = build_transforms(parse_transforms([{"name": "pad", "size": 32, "fill": 0.5}], "train", "segmentation"),
                             ignore_index=7)
    _, target = tf(image, {"mask": mask}, torch.Generator())
    assert (target["mask"][20:] == 7).all() and (target["mask"][:, 28:] == 7).all()
    tf, _ = build_transforms(parse_transforms([{"name": "colorjitter", "brightness": 0.5, "contrast": 0.5,
                                                "saturation": 0.5, "hue": 0.2}, {"name": "normalize"}],
                                              "train", "segmentation"))
    rgb = torch.rand(3, 20, 28)
    out, target = tf(rgb, {"mask": mask}, torch.Generator().manual_seed(1))
    assert target["mask"] is mask and not torch.equal(out, rgb)


def test_mixing_is_rejected_for_segmentation_with_location(write):
    cfg = write("seg.yaml", """
        data:
          path: {train: {image: a, label: b}, valid: {image: a, label: b}}
        augmentation:
          train:
            - {name: resize, size: 32}
            - {name: mixing, mixup: [0.2, 1.0]}
        model: {task: segmentation, name: simple_cnn_seg}
    """)
    # rejected when the config is loaded, before any data is read
    with pytest.raises(ConfigError, match=r"seg\.yaml:\d+:\d+: augmentation\.train\[1\]\.name: mixing is not supported "
                                          r"for segmentation"):
        load_config([cfg], check_files=False)
