"""logging.num_save_samples and val_samples.png are one mechanism: the N samples chosen once are
written one PNG each per validation, and val_samples.png draws up to 32 of those same samples."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from nptrain.report import val_samples as vs
from nptrain.report.best_epoch import write_best_pictures
from nptrain.training.samples import _enlarge, save_samples
from tests.report.test_samples_and_predict_pictures import FakeDataset, FixedDetector


def _loaded(task: str, num_save_samples: int) -> SimpleNamespace:
    data = SimpleNamespace(pallete=[[0, 0, 0], [200, 30, 30], [30, 200, 30]], ignore_index=255, id_mapping=None,
                           path=SimpleNamespace(root=None))
    post = SimpleNamespace(score_thresh=0.01, nms_thresh=0.65, max_detections=100, class_agnostic=False)
    plots = SimpleNamespace(plots=("confusion", "pr_curve", "samples"))  # what the built-in tasks draw
    return SimpleNamespace(model=SimpleNamespace(task=task), task_spec=plots, resolved=SimpleNamespace(postprocessor=post),
                           run=SimpleNamespace(logging=SimpleNamespace(num_save_samples=num_save_samples), data=data))


def test_sample_count_and_grid_limit():
    assert vs.sample_count("classification") == 16 and vs.sample_count("segmentation") == 8
    assert vs.sample_count("detection", 40) == 40
    assert vs.grid_limit("classification") == 32 and vs.grid_limit("segmentation") == 16


def test_folder_images_are_the_chosen_samples_and_the_grid_shows_some_of_them(tmp_path, monkeypatch, png_check):
    dataset = FakeDataset("classification", n=50)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 3))
    loaded = _loaded("classification", 40)
    out = tmp_path / "samples" / "epoch_0001"
    assert save_samples(model, dataset, loaded, ["cat", "dog", "bird"], 40, out, torch.device("cpu")) == 40
    files = sorted(out.iterdir())
    assert [f.name for f in files] == [f"{k:03d}.png" for k in range(40)]
    chosen = vs.sample_indices(50, 40)
    for k in (0, 17, 39):  # file k holds dataset sample chosen[k], as the model sees it, below its captions
        expected = np.asarray(_enlarge(Image.fromarray(vs.display_image(dataset[(chosen[k], 0)][0], dataset.transform))))
        got = np.asarray(Image.open(files[k]).convert("RGB"))[28:]
        assert np.array_equal(got, expected), k
    png_check(files[0], (128, 150), (128, 160))

    drawn: list[list[int]] = []
    monkeypatch.setattr(vs, "plot_classification", lambda path, samples, classes: drawn.append([s["index"] for s in samples]))
    metric = SimpleNamespace(confusion=lambda: None)
    write_best_pictures(tmp_path, loaded=loaded, metric=metric, model=model, dataset=dataset,
                        classes=["cat", "dog", "bird"], device=torch.device("cpu"), epoch=1, log=pytest.fail)
    # the grid: 32 of the 40 the folders hold, spread over them (so over the split) and in their order
    positions = vs.sample_indices(40, 32)
    assert drawn == [[chosen[p] for p in positions]] and drawn[0][0] == chosen[0] and drawn[0][-1] == chosen[-1]


@pytest.mark.parametrize("task", ["segmentation", "detection"])
def test_folder_images_for_segmentation_and_detection(task, tmp_path, monkeypatch, png_check):
    dataset = FakeDataset(task, n=12)
    model = torch.nn.Conv2d(3, 3, 1) if task == "segmentation" else FixedDetector()
    loaded = _loaded(task, 3)
    names = ["background", "disc", "square"] if task == "segmentation" else ["rectangle", "ellipse"]
    if task == "detection":  # the fake config has no detection section: the default postprocessing
        from nptrain.detection import postprocess

        monkeypatch.setattr(postprocess, "postprocess_config", lambda loaded, **kw: postprocess.PostProcessConfig())
    assert save_samples(model, dataset, loaded, names, 3, tmp_path, torch.device("cpu")) == 3
    # two or three panels of the 32 px sample enlarged to 128 px (detection draws at twice that again)
    picture = png_check(tmp_path / "002.png", (256, 128), (1024, 256), min_std=10.0)
    if task == "segmentation":  # image | truth | prediction; the truth's square is the dataset palette's colour
        truth = picture[:, 128:256]
        assert tuple(truth[50, 50].astype(int)) in {(200, 30, 30), (30, 200, 30)}
