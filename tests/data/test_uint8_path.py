"""Cached images stay uint8 through the leading geometric transforms and become float at the first
transform that needs float: results match an all-float pipeline to within uint8 rounding, masks and
boxes exactly, and colour transforms never see uint8."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from nptrain.config.augmentation import parse_transforms
from nptrain.data.seeded import SeededDataset
from nptrain.data.transforms import Compose, build_transforms

LEVEL = 1 / 255  # one uint8 step


def _photo(h: int = 96, w: int = 128) -> torch.Tensor:
    """A real photograph (scikit-learn's bundled china.jpg, no download): a detailed crop as uint8 (3, H, W)."""
    from sklearn.datasets import load_sample_image

    pixels = load_sample_image("china.jpg")[150:150 + h, 200:200 + w]
    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1).contiguous()


def _target(image: torch.Tensor) -> dict[str, Any]:
    """A mask cut from the photo's own brightness (class edges follow real image edges) and two boxes."""
    grey = image.float().mean(0)
    mask = torch.bucketize(grey, torch.tensor([80.0, 160.0]))
    mask[:5, :7] = 255  # some ignored pixels
    boxes = torch.tensor([[10.0, 8.0, 60.0, 50.0], [70.0, 30.0, 120.0, 90.0]])
    return {"mask": mask, "boxes": boxes, "classes": torch.tensor([1, 2])}


def _both(entries: list[dict], task: str = "segmentation", seed: int = 0):
    """The pipeline run on the uint8 photo and on the same photo as float in [0, 1], same random draws."""
    tf, _ = build_transforms(parse_transforms(entries, "train", task))
    image = _photo()
    out8, t8 = tf(image, _target(image), torch.Generator().manual_seed(seed))
    outf, tf_ = tf(image.float() / 255, _target(image), torch.Generator().manual_seed(seed))
    return out8, t8, outf, tf_


def _assert_same_targets(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("entry, tolerance", [
    ({"name": "resize", "size": [61, 83]}, LEVEL),                              # bilinear down, antialiased
    ({"name": "resize", "size": [150, 170]}, LEVEL),                            # bilinear up
    ({"name": "resize", "size": 40, "resize_criteria": "short"}, LEVEL),
    ({"name": "resize", "size": [61, 83], "interpolation": "nearest"}, 0.0),
    ({"name": "resize", "size": [61, 83], "interpolation": "bicubic"}, 0.0),     # runs in float: identical
    ({"name": "randomresizedcrop", "size": 48, "scale": [0.2, 1.0]}, LEVEL),
    ({"name": "randomresizedcrop", "size": 48, "interpolation": "nearest"}, 0.0),
    ({"name": "randomhorizontalflip", "p": 1.0}, 0.0),
    ({"name": "randomverticalflip", "p": 1.0}, 0.0),
    ({"name": "randomcrop", "size": [40, 50]}, 0.0),
    ({"name": "randomcrop", "size": 140, "fill": 0.5}, 0.5 * LEVEL),             # padded: 0.5 is level 128
    ({"name": "centercrop", "size": 110}, 0.0),
    ({"name": "pad", "size": [120, 150], "fill": 114 / 255}, 0.0),
    ({"name": "pad", "padding": 3, "fill": 0.3}, 0.5 * LEVEL),
])
@pytest.mark.parametrize("seed", [0, 1])
def test_each_geometric_transform_matches_float(entry, tolerance, seed):
    out8, t8, outf, tf_ = _both([entry], seed=seed)
    assert out8.dtype == torch.float32 and out8.shape == outf.shape
    assert float((out8 - outf).abs().max()) <= tolerance + 1e-6
    assert 0.0 <= float(out8.min()) and float(out8.max()) <= 1.0
    _assert_same_targets(t8, tf_)


def test_geometric_transforms_do_take_uint8_and_colour_ones_do_not():
    """Built-ins that may see uint8 say so; bicubic, colour jitter, normalize and out-of-range fills do not."""
    tf, mixing = build_transforms(parse_transforms([
        {"name": "resize", "size": 40}, {"name": "randomresizedcrop", "size": 32, "interpolation": "nearest"},
        {"name": "randomhorizontalflip"}, {"name": "randomcrop", "size": 30}, {"name": "centercrop", "size": 28},
        {"name": "pad", "size": 30, "fill": 1.0},
        {"name": "resize", "size": 40, "interpolation": "bicubic"}, {"name": "pad", "padding": 2, "fill": -1.0},
        {"name": "colorjitter", "brightness": 0.2}, {"name": "normalize"}], "train", "segmentation"))
    assert [bool(getattr(t, "accepts_uint8", False)) for t in tf.transforms] == [True] * 6 + [False] * 4


class _Record:
    """A transform without ``accepts_uint8`` (as a plugin's would be): remembers what it was handed."""

    def __init__(self) -> None:
        self.seen: list[torch.dtype] = []
        self.max = 0.0

    def __call__(self, image, target, gen):
        self.seen.append(image.dtype)
        self.max = max(self.max, float(image.max()))
        return image, target


def test_conversion_happens_at_the_first_transform_that_needs_float():
    tf, _ = build_transforms(parse_transforms([{"name": "resize", "size": 40}, {"name": "randomhorizontalflip"}],
                                              "train", "classification"))
    before, after = _Record(), _Record()
    before.accepts_uint8 = True  # type: ignore[attr-defined]
    pipeline = Compose([before, *tf.transforms, after])
    out, _ = pipeline(_photo(), {}, torch.Generator().manual_seed(0))
    assert before.seen == [torch.uint8]                 # the leading geometry saw uint8 ...
    assert after.seen == [torch.float32] and after.max <= 1.0   # ... a plugin's transform float in [0, 1]
    assert out.dtype == torch.float32


def test_pipeline_of_geometry_only_ends_in_float():
    tf, _ = build_transforms(parse_transforms([{"name": "randomhorizontalflip", "p": 1.0}], "train", "classification"))
    image = _photo()
    out, _ = tf(image, {}, torch.Generator())
    assert out.dtype == torch.float32 and torch.equal(out, image.flip(-1).float() / 255)


@pytest.mark.parametrize("entry", [
    {"name": "colorjitter", "brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1},
    {"name": "normalize", "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.3, 0.25]},
    {"name": "pad", "padding": 2, "fill": -1.0},
])
def test_float_only_transforms_give_exactly_the_float_result(entry):
    """Converted before they run, they compute exactly what they did on float images (handed uint8,
    colour jitter would clamp everything above 1/255 to white, normalize would wrap around)."""
    for seed in range(3):
        out8, t8, outf, tf_ = _both([entry], seed=seed)
        assert torch.equal(out8, outf)
        _assert_same_targets(t8, tf_)


def _pipeline_bound(resamplings: int, jitter: float, std: float) -> float:
    # each uint8 resampling is within one level of float and errors pass through a later resampling
    # undiminished (its weights sum to one); jitter scales differences by at most (1 + x) per factor
    # (brightness, contrast, saturation; the hue rotation keeps norms) and normalize divides by std
    return resamplings * LEVEL * (1 + jitter) ** 3 / std + 1e-5


def test_classification_pipeline_matches_float():
    entries = [{"name": "resize", "size": [80, 100]},
               {"name": "randomresizedcrop", "size": 56, "scale": [0.3, 1.0]},
               {"name": "randomhorizontalflip"},
               {"name": "colorjitter", "brightness": 0.2, "contrast": 0.2, "saturation": 0.2},
               {"name": "normalize", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}]
    worst = 0.0
    for seed in range(6):
        out8, t8, outf, tf_ = _both(entries, "classification", seed)
        assert out8.shape == outf.shape == (3, 56, 56) and out8.dtype == torch.float32
        diff = (out8 - outf).abs()
        worst = max(worst, float(diff.max()))
        assert float(diff.mean()) < 0.6 * LEVEL / 0.224  # typically well under a level
    assert worst <= _pipeline_bound(2, 0.2, 0.224)


def test_segmentation_pipeline_matches_float_with_identical_masks():
    entries = [{"name": "resize", "size": [72, 96]},
               {"name": "randomresizedcrop", "size": [64, 64], "scale": [0.25, 1.0]},
               {"name": "randomhorizontalflip"},
               {"name": "pad", "size": 70},
               {"name": "colorjitter", "brightness": 0.25, "contrast": 0.25, "saturation": 0.25, "hue": 0.05},
               {"name": "normalize"}]
    for seed in range(6):
        out8, t8, outf, tf_ = _both(entries, "segmentation", seed)
        assert out8.shape == outf.shape == (3, 70, 70)
        assert float((out8 - outf).abs().max()) <= _pipeline_bound(2, 0.25, 0.224)
        _assert_same_targets(t8, tf_)
        assert t8["mask"].dtype == torch.long and (t8["mask"][64:] == 255).all()


class _Cached(SeededDataset):
    def decode(self, index: int) -> torch.Tensor:
        return _photo()

    def image_and_target(self, index: int, decoded: torch.Tensor):
        return decoded, {"label": 0}


def test_dataset_hands_cached_uint8_to_compose_and_float_to_other_callables():
    tf, _ = build_transforms(parse_transforms([{"name": "randomhorizontalflip", "p": 1.0}, {"name": "resize", "size": 40}],
                                              "train", "classification"))
    ds = _Cached([0], ["a"], tf)
    ds.cache_images()
    assert ds.cache[0].dtype == torch.uint8
    image, _ = ds[(0, 5)]
    reference, _ = tf(_photo().float() / 255, {}, torch.Generator())
    assert image.dtype == torch.float32 and float((image - reference).abs().max()) <= LEVEL
    plain = _Record()
    _Cached([0], ["a"], plain)[(0, 5)]
    assert plain.seen == [torch.float32] and plain.max <= 1.0
    image, _ = _Cached([0], ["a"])[0]  # no transform at all: float in [0, 1]
    assert image.dtype == torch.float32 and torch.equal(image, _photo().float() / 255)


# --- the leading resize applied once, when the cache is filled ---------------------------------------

class _Segs(SeededDataset):
    """Real photos (crops of two sizes) with brightness masks, boxes and an index-dependent label."""

    def decode(self, index: int):
        image = _photo(96, 128) if index % 2 else _photo(80, 72)
        return image, _target(image)

    def image_and_target(self, index: int, decoded):
        image, target = decoded
        return image, {**target, "mask": target["mask"].clone(), "label": index}

    def finish(self, image, target):
        target["image_size"] = torch.tensor(image.shape[-2:])  # modifies what it is given, as detection's does
        return target


@pytest.mark.parametrize("entries", [
    [{"name": "resize", "size": [48, 64]}, {"name": "randomresizedcrop", "size": 40, "scale": [0.3, 1.0]},
     {"name": "randomhorizontalflip"}, {"name": "colorjitter", "brightness": 0.3}, {"name": "normalize"}],
    [{"name": "resize", "size": 40, "resize_criteria": "short", "interpolation": "nearest"},
     {"name": "randomcrop", "size": 36}],
    [{"name": "resize", "size": [30, 30]}],
])
def test_cached_leading_resize_gives_identical_samples(entries):
    tf, _ = build_transforms(parse_transforms(entries, "train", "segmentation"))
    cached, uncached = _Segs(range(4), ["a", "b", "c"], tf), _Segs(range(4), ["a", "b", "c"], tf)
    cached.cache_images()
    assert all(type(entry).__name__ == "Resized" for entry in cached.cache)
    assert cached.cache[0].target["mask"].dtype == torch.uint8  # kept compact
    for epoch in range(2):  # the second pass shows the cache was not modified by the first
        for index in range(4):
            seed = 1000 * epoch + index
            a_img, a_t = cached[(index, seed)]
            b_img, b_t = uncached[(index, seed)]
            assert torch.equal(a_img, b_img) and a_img.dtype == torch.float32
            assert a_t.keys() == b_t.keys()
            for key in a_t:
                same = torch.equal(a_t[key], b_t[key]) if isinstance(a_t[key], torch.Tensor) else a_t[key] == b_t[key]
                assert same and type(a_t[key]) is type(b_t[key]), key
            assert a_t["mask"].dtype == torch.long


def test_resize_is_not_cached_when_bicubic_first_random_or_a_large_upscale():
    for entries in ([{"name": "resize", "size": 40, "interpolation": "bicubic"}],  # runs in float: 4x the memory
                    [{"name": "randomresizedcrop", "size": 40}],                    # random: cannot be cached
                    [{"name": "resize", "size": [400, 400]}]):                      # 64x the photo's pixels
        tf, _ = build_transforms(parse_transforms(entries, "train", "segmentation"))
        ds = _Segs(range(2), ["a", "b", "c"], tf)
        ds.cache_images()
        assert [type(entry).__name__ for entry in ds.cache] == ["tuple", "tuple"], entries
        image, target = ds[(1, 3)]
        side = entries[0]["size"] if isinstance(entries[0]["size"], int) else entries[0]["size"][0]
        assert image.shape[-2:] == target["mask"].shape == (side, side)
