"""data.format: huggingface for classification: a dataset built with the ``datasets`` library from the digits
folders (image bytes + ClassLabel), saved with ``save_to_disk`` and as a local parquet repo, trains to exactly
the metrics of the same images through ``format: local``; its metadata is checked at the config's lines; with no
network and nothing cached, one located line names the repo and the cache."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

datasets = pytest.importorskip("datasets", reason="the nptrain[hf] extra")

from nptrain.cli.main import main  # noqa: E402
from nptrain.config.loader import load_config  # noqa: E402
from nptrain.errors import ConfigError  # noqa: E402
from nptrain.training.engine import run_training  # noqa: E402

SHARED = Path(__file__).resolve().parents[3] / "shared" / "npt-recipes" / "data" / "huggingface"


def digits_as_hf(digits: Path) -> "datasets.DatasetDict":
    """The digits folders as a DatasetDict, rows in the order the local reader lists the files."""
    names = sorted(p.name for p in (digits / "train").iterdir() if p.is_dir())
    features = datasets.Features({"img": datasets.Image(), "digit": datasets.ClassLabel(names=names)})
    splits = {}
    for split, hf_name in (("train", "train"), ("valid", "validation")):
        rows = {"img": [], "digit": []}
        for label, name in enumerate(names):
            for png in sorted((digits / split / name).glob("*.png")):
                rows["img"].append({"bytes": png.read_bytes(), "path": png.name})
                rows["digit"].append(label)
        splits[hf_name] = datasets.Dataset.from_dict(rows, features=features)
    return datasets.DatasetDict(splits)


@pytest.fixture(scope="module")
def hf_digits(tmp_path_factory, digits_dir) -> tuple[Path, Path]:
    """(a save_to_disk folder, a local parquet repo) of the digits."""
    out = tmp_path_factory.mktemp("hf_digits")
    dd = digits_as_hf(digits_dir)
    dd.save_to_disk(str(out / "saved"))
    (out / "parquet" / "data").mkdir(parents=True)
    for name, ds in dd.items():
        ds.to_parquet(str(out / "parquet" / "data" / f"{name}-00000-of-00001.parquet"))
    return out / "saved", out / "parquet"


def hf_config(repo: Path, extra: str = "") -> str:
    return f"""
data:
  format: huggingface
  metadata: {{repo: {repo}, features: {{image: img, label: digit}}{extra}}}
"""


def _metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())["best"]["metrics"]


@pytest.mark.slow
def test_hf_datasets_train_to_the_local_metrics(small_config, hf_digits):
    saved, parquet = hf_digits
    one = "training: {epochs: 1}\n"
    local = run_training(load_config(small_config(one)), name="local", log=lambda _m: None)
    for repo in (saved, parquet):
        lines: list[str] = []
        hf = run_training(load_config(small_config(one + hf_config(repo), name=f"hf_{repo.name}")), name="hf",
                          log=lines.append)
        assert json.loads((hf / "classes.json").read_text()) == json.loads((local / "classes.json").read_text())
        assert _metrics(hf) == _metrics(local), repo


def test_hf_metadata_is_checked_at_its_line(small_config, hf_digits):
    from nptrain.training.setup import build_data

    saved, _ = hf_digits
    for extra, field, message in [
        ("", None, None),
        (", valid_split: validaton", "data.metadata.valid_split", "has no split 'validaton'; it has train, validation "
                                                                   "(did you mean 'validation'?)"),
    ]:
        loaded = load_config(small_config(hf_config(saved, extra)))
        if field is None:
            data = build_data(loaded, decode=False)
            assert (len(data.train), len(data.valid)) == (len(data.train.samples.ds), 359)
            continue
        with pytest.raises(ConfigError) as info:
            build_data(loaded, decode=False)
        assert info.value.field == field and info.value.line is not None and message in str(info.value)
    bad = small_config(hf_config(saved).replace("image: img", "image: imgs"))
    with pytest.raises(ConfigError, match=r"data.metadata.features.image: .* has no feature 'imgs'; its features: "
                                          r"img, digit \(did you mean 'img'\?\)"):
        build_data(load_config(bad), decode=False)


def test_no_valid_split_holds_out_a_fixed_tenth(small_config, hf_digits, tmp_path):
    from nptrain.training.setup import build_data

    saved, _ = hf_digits
    only_train = datasets.load_from_disk(str(saved))["train"]
    only_train.save_to_disk(str(tmp_path / "train_only"))
    data = build_data(load_config(small_config(hf_config(tmp_path / "train_only"))), decode=False)
    n = len(only_train)
    assert (len(data.train), len(data.valid)) == (n - math.ceil(n / 10), math.ceil(n / 10))
    again = build_data(load_config(small_config(hf_config(tmp_path / "train_only"), name="again")), decode=False)
    assert str(data.valid.samples[0][0]) == str(again.valid.samples[0][0])  # the same rows every time


@pytest.mark.parametrize("config", sorted(SHARED.glob("*.yaml")) if SHARED.is_dir() else [],
                         ids=lambda p: p.stem)
def test_netspresso_hf_configs_stop_at_the_one_missing_data_line(config, tmp_path, monkeypatch, capsys):
    """NetsPresso Trainer's six Hugging Face data configs, with a model section: config check gets as far as the
    data, and says in one located line that the repo is neither cached nor downloadable here."""
    from ruamel.yaml import YAML

    data = YAML(typ="safe").load(config.read_text())
    task = data["data"]["task"]
    model = tmp_path / "model.yaml"
    name = "simple_cnn" if task == "classification" else "simple_cnn_seg"
    model.write_text(f"model: {{task: {task}, name: {name}}}\nlogging: {{output_dir: {tmp_path}/runs}}\n")
    monkeypatch.chdir(tmp_path)  # custom_cache_dir ./data/huggingface is relative to where nptrain runs
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["config", "check", str(config), str(model)]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("nptrain: error:")]
    assert len(lines) == 1, lines
    repo = data["data"]["metadata"]["repo"]
    assert f"{config}:" in lines[0] and "data.metadata.repo:" in lines[0] and repr(repo) in lines[0]
    cache = tmp_path / "data" / "huggingface"  # custom_cache_dir ./data/huggingface, from where nptrain ran
    assert f"is not in the cache {cache} and the Hub cannot be reached" in lines[0], lines[0]


def test_hf_images_get_the_local_files_checks(small_config, digits_dir, tmp_path):
    """A truncated row and a decompression bomb are refused with the row's name, as files would be."""
    import io

    from PIL import Image

    from nptrain.errors import UserError
    from nptrain.training.setup import build_data

    dd = digits_as_hf(digits_dir)
    good = sorted((digits_dir / "train").rglob("*.png"))[0].read_bytes()
    big = io.BytesIO()
    Image.new("L", (12000, 8000)).save(big, format="PNG")  # 96 megapixels: over the bound, refused from the header
    rows = {"img": [{"bytes": good[: len(good) // 2], "path": "cut.png"}, {"bytes": big.getvalue(), "path": "big.png"}],
            "digit": [0, 1]}
    broken = datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows, features=dd["train"].features),
                                   "validation": dd["validation"]})
    broken.save_to_disk(str(tmp_path / "broken"))
    loaded = load_config(small_config(hf_config(tmp_path / "broken") + "environment: {cache_data: false}\n"))
    with pytest.raises(UserError, match=r"image .*\[train\]\[1\]\.img \(big\.png\) is too large to read"):
        build_data(loaded, decode=False)
    from nptrain.data.datasets import build_dataset

    train = build_dataset(loaded.run.data, "train")  # no start-up check: the bad pixels found when decoded
    with pytest.raises(UserError, match=r"cannot read image .*\[train\]\[0\]\.img \(cut\.png\): OSError"):
        train.decode(0)
