"""val_samples.png for every task, the segmentation legend and palette, and detection captions:
the pictures are written, of the expected size, not blank, and say what they should."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from nptrain.data.transforms import Compose, Normalize
from nptrain.detection.draw import _place, draw_detections
from nptrain.report import val_samples as vs
from nptrain.report.palette import class_colors, mask_file_palette
from nptrain.report.prediction_pictures import add_legend, display_scale, plot_prediction_grid

NORM = Compose([Normalize(mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25])])


class FakeDataset:
    """What ``collect`` uses of a task dataset: ``transform``, ``len`` and ``[(index, seed)]``."""

    def __init__(self, task: str, n: int = 20, size: int = 32) -> None:
        self.task, self.n, self.size, self.transform = task, n, size, NORM

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, item):
        index, _ = item
        gen = torch.Generator().manual_seed(index)
        image = NORM(torch.rand(3, self.size, self.size, generator=gen), {}, gen)[0]
        if self.task == "classification":
            return image, {"label": index % 3}
        if self.task == "segmentation":
            mask = torch.zeros(self.size, self.size, dtype=torch.long)
            mask[4:20, 4:20] = 1 + index % 2
            mask[0, :] = 255  # ignored pixels
            return image, {"mask": mask}
        return image, {"boxes": torch.tensor([[2.0, 3.0, 20.0, 25.0]]), "classes": torch.tensor([index % 2]),
                       "image_size": torch.tensor([self.size, self.size])}


class FixedDetector(torch.nn.Module):
    """Two raw predictions ``(cx, cy, w, h, obj, classes...)``: one confident, one below DET_SCORE."""

    def forward(self, x):
        pred = torch.tensor([[11.0, 14.0, 18.0, 22.0, 4.0, 4.0, -4.0], [20.0, 20.0, 6.0, 6.0, -3.0, -4.0, 0.0]])
        return pred.expand(x.shape[0], -1, -1)


def test_display_image_undoes_normalize_and_indices_spread():
    raw = torch.rand(3, 5, 7)
    shown = vs.display_image(NORM(raw, {}, torch.Generator())[0], NORM)
    assert shown.shape == (5, 7, 3) and shown.dtype == np.uint8
    assert np.abs(shown.astype(int) - (raw.permute(1, 2, 0).numpy() * 255).round()).max() <= 1
    assert vs.sample_indices(100, 4) == [0, 33, 66, 99] and vs.sample_indices(3, 16) == [0, 1, 2]


def test_classification_val_samples(tmp_path, png_check):
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 3))
    model.train()
    samples = vs.collect(model, FakeDataset("classification"), "classification", device=torch.device("cpu"))
    assert model.training  # put back as it was
    assert len(samples) == vs.NUM_SAMPLES and samples[0]["probs"].shape == (3,)
    path = tmp_path / "val_samples.png"
    vs.plot_classification(path, samples, ["cat", "dog", "bird"])
    png_check(path, (900, 1000), (1150, 1300))


def test_segmentation_val_samples_use_the_palette(tmp_path, png_check):
    model = torch.nn.Conv2d(3, 3, 1)
    samples = vs.collect(model, FakeDataset("segmentation"), "segmentation", device=torch.device("cpu"))
    assert len(samples) == vs.NUM_SEG_SAMPLES and samples[0]["mask"].shape == (32, 32)
    colors = [(0, 0, 0), (220, 60, 60), (60, 180, 75)]
    truth = vs.colorize(samples[1]["target"]["mask"], colors)
    assert tuple(truth[10, 10]) == (60, 180, 75) and tuple(truth[0, 0]) == (200, 200, 200)  # class 2; ignored
    path = tmp_path / "val_samples.png"
    vs.plot_segmentation(path, samples, ["background", "disc", "square"], colors)
    pixels = png_check(path, (1200, 1000), (1450, 1200))
    assert (np.abs(pixels - np.array([220, 60, 60])).sum(-1) < 3).sum() > 100  # the palette's own colours


def test_detection_val_samples(tmp_path, png_check):
    from nptrain.detection.postprocess import PostProcessConfig

    samples = vs.collect(FixedDetector(), FakeDataset("detection"), "detection", device=torch.device("cpu"),
                         postprocess_config=PostProcessConfig())
    assert len(samples) == vs.NUM_SAMPLES
    assert samples[0]["boxes"].tolist() == [[2.0, 3.0, 20.0, 25.0]]  # the low-score one is not drawn
    path = tmp_path / "val_samples.png"
    vs.plot_detection(path, samples, ["rectangle", "ellipse"])
    png_check(path, (1100, 1100), (1300, 1300))


def test_mask_palette_is_read_from_palette_pngs(tmp_path):
    mask = Image.fromarray(np.zeros((4, 4), dtype=np.uint8), mode="P")
    mask.putpalette([0, 0, 0, 220, 60, 60, 60, 180, 75] + [0] * (3 * 253))
    mask.save(tmp_path / "m.png")
    assert mask_file_palette(tmp_path / "m.png", 3) == [(0, 0, 0), (220, 60, 60), (60, 180, 75)]
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(tmp_path / "l.png")
    assert mask_file_palette(tmp_path / "l.png", 3) is None
    assert class_colors(3, [[1, 2, 3], [4, 5, 6], [7, 8, 9]]) == [(1, 2, 3), (4, 5, 6), (7, 8, 9)]
    assert len(set(class_colors(21))) == 21


def test_legend_strip_lists_every_class_in_its_colour():
    picture = Image.new("RGB", (256, 256), (128, 128, 128))
    entries = [("background", (0, 0, 0)), ("disc", (220, 60, 60)), ("square", (60, 180, 75)), ("triangle", (70, 110, 230))]
    out = add_legend(picture, entries)
    assert out.width == 256 and out.height > 256
    strip = np.asarray(out)[256:]
    for _, color in entries[1:]:
        assert (np.abs(strip.astype(int) - color).sum(-1) == 0).sum() > 20, color
    assert display_scale((64, 64)) == 4 and display_scale((97, 74)) == 4 and display_scale((640, 480)) == 1


def test_detection_captions_stay_inside_and_apart():
    size = (64, 64)
    taken = []
    for box in [(0.0, 0.0, 30.0, 30.0), (0.0, 0.0, 30.0, 30.0), (50.0, 55.0, 64.0, 64.0)]:
        x, y = _place(box, 40.0, 10.0, size, taken)
        assert 0 <= x and x + 40 <= 64 and 0 <= y and y + 10 <= 64
        assert not any(x < t[2] and t[0] < x + 40 and y < t[3] and t[1] < y + 10 for t in taken)
        taken.append((x, y, x + 40, y + 10))
    image = Image.new("RGB", size, (90, 90, 90))
    drawn = draw_detections(image, torch.tensor([[0.0, 0.0, 30.0, 30.0], [40.0, 50.0, 64.0, 64.0]]),
                            torch.tensor([0.9, 0.5]), torch.tensor([0, 1]), ["rectangle", "ellipse"])
    assert drawn.size == (256, 256)  # enlarged so the captions read
    changed = (np.asarray(drawn).astype(int) != 90).any(-1)
    assert changed[:12].any() and changed[-12:].any()  # captions at both edges, inside the picture


def test_prediction_grid(tmp_path, png_check):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (8, 8, 3), dtype=np.uint8) for _ in range(10)]
    path = tmp_path / "predictions.png"
    plot_prediction_grid(path, images, [f"{i:04d}.png" for i in range(10)], [f"digit {i} (0.9)" for i in range(10)])
    png_check(path, (1500, 450), (1900, 600))
