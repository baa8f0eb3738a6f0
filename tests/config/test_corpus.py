"""A corpus of broken configs: ``config check`` fails iff ``run`` fails before training, with the same
lines, and ``run`` never creates a run directory for them; the valid config checks and trains."""
from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest


@attrs.frozen
class Case:
    """``replace`` edits the valid YAML (old -> new, ``{data}`` is the image folder); ``expect`` holds
    (text on the offending line or None for the command line, field, part of the message) per error line."""

    id: str
    replace: tuple = ()
    overrides: tuple = ()
    expect: tuple = ()


CASES = [
    Case("optimizer-misspelt", (("name: adamw,", "name: adamww,"),),
         expect=(("adamww", "training.optimizer.name", "unknown optimizer 'adamww' (did you mean 'adamw'?)"),)),
    Case("scheduler-misspelt", (("name: cosine_no_sgdr,", "name: cosine_nosgdr,"),),
         expect=(("cosine_nosgdr", "training.scheduler.name",
                  "unknown scheduler 'cosine_nosgdr' (did you mean 'cosine_no_sgdr'?)"),)),
    Case("optimizer-unknown-field", (("lr: 0.001,", "lr: 0.001, bogus: 1,"),),
         expect=(("bogus", "training.optimizer.bogus", "unknown field 'bogus'; known fields: "),)),
    Case("transform-misspelt", (("randomhorizontalflip, p", "randomhorizontalfilp, p"),),
         expect=(("filp", "augmentation.train[1].name",
                  "unknown transform 'randomhorizontalfilp' (did you mean 'randomhorizontalflip'?)"),)),
    Case("transform-unknown-field", (("randomhorizontalflip, p: 0.5", "randomhorizontalflip, prob: 0.5"),),
         expect=(("prob", "augmentation.train[1].prob", "unknown field 'prob'; known fields: p"),)),
    Case("metric-misspelt", (("[top1_accuracy]", "[top1_acuracy]"),),
         expect=(("acuracy", "logging.metrics.metric_names[0]",
                  "'top1_acuracy' is not a classification metric (did you mean 'top1_accuracy'?)"),)),
    Case("data-folder-missing", (("/train}", "/missing}"),),
         expect=(("missing", "data.path.train.image", "folder not found: "),)),
    Case("label-file-missing", (("/train}", "/train, label: {data}/labels.csv}"),),
         expect=(("labels.csv", "data.path.train.label", "labels.csv"),)),
    Case("mixing-probability", (("    - {name: randomhorizontalflip, p: 0.5}\n",
                                 "    - {name: randomhorizontalflip, p: 0.5}\n    - {name: mixing, mixup: [0.2, 1.5]}\n"),),
         expect=(("mixup", "augmentation.train[2].mixup", "must be [alpha > 0, p in [0, 1]]"),)),
    Case("mixing-in-inference", (("  inference:\n    - {name: resize, size: 8}\n",
                                  "  inference:\n    - {name: resize, size: 8}\n    - {name: mixing, cutmix: [1.0, 0.5]}\n"),),
         expect=(("cutmix", "augmentation.inference[1].name", "mixing acts on training batches"),)),
    Case("flip-probability", (("p: 0.5", "p: 2"),),
         expect=(("p: 2", "augmentation.train[1].p", "expected a number in [0, 1]; got 2"),)),
    Case("epochs-zero", (("epochs: 1", "epochs: 0"),),
         expect=(("epochs", "training.epochs", "expected an integer >= 1; got 0"),)),
    Case("epochs-negative", (("epochs: 1", "epochs: -3"),),
         expect=(("epochs", "training.epochs", "expected an integer >= 1; got -3"),)),
    Case("epochs-word", (("epochs: 1", "epochs: one"),),
         expect=(("epochs", "training.epochs", "expected an integer; got 'one'"),)),
    Case("batch-size-zero", (("batch_size: 2", "batch_size: 0"),),
         expect=(("batch_size", "environment.batch_size", "expected an integer >= 1; got 0"),)),
    Case("lr-negative", (("lr: 0.001", "lr: -1"),),
         expect=(("lr: -1", "training.optimizer.lr", "expected a number >= 0; got -1"),)),
    Case("betas-out-of-range", (("lr: 0.001,", "lr: 0.001, betas: [0.9, 1.0],"),),
         expect=(("betas", "training.optimizer.betas[1]", "expected a number in [0, 1); got 1.0"),)),
    Case("workers-negative", (("num_workers: 0", "num_workers: -2"),),
         expect=(("num_workers", "environment.num_workers", "expected an integer >= 0; got -2"),)),
    Case("seed-negative", (("  batch_size: 2\n", "  batch_size: 2\n  seed: -1\n"),),
         expect=(("seed", "environment.seed", "expected an integer in [0, 4294967295]; got -1"),)),
    Case("validation-epoch-zero", (("validation_epoch: 1", "validation_epoch: 0"),),
         expect=(("validation_epoch", "logging.model_save_options.validation_epoch", "expected an integer >= 1; got 0"),)),
    Case("warmup-negative", (("warmup_epochs: 0", "warmup_epochs: -5"),),
         expect=(("warmup", "training.scheduler.warmup_epochs", "expected a number >= 0; got -5"),)),
    Case("step-phase-zero", (("{name: cosine_no_sgdr, warmup_epochs: 0}", "{name: step, iters_per_phase: 0}"),),
         expect=(("iters_per_phase", "training.scheduler.iters_per_phase", "expected an integer >= 1; got 0"),)),
    Case("poly-power-negative", (("{name: cosine_no_sgdr, warmup_epochs: 0}", "{name: poly, power: -1}"),),
         expect=(("power", "training.scheduler.power", "expected a number >= 0; got -1"),)),
    Case("ema-decay", (("  epochs: 1\n", "  epochs: 1\n  ema: {name: exp_decay, decay: 1.5}\n"),),
         expect=(("ema", "training.ema.decay", "expected a number in [0, 1]; got 1.5"),)),
    Case("width-negative", (("{channels: 8}]", "{channels: -8}]"),),
         expect=(("-8", "model.architecture.backbone.stage_params[3].channels", "expected an integer >= 1; got -8"),)),
    Case("provider-refuses-params", (("params: {stem_channels: 4}", "params: {stem_channels: 4, return_stage_idx: [7]}"),),
         expect=(("return_stage_idx", "model.architecture.backbone.params",
                  "backbone 'simple_cnn' (nptrain) cannot be built with these params: ValueError: return_stage_idx [7] "
                  "must select stages 0..3"),)),
    Case("checkpoint-missing", (("  name: simple_cnn\n", "  name: simple_cnn\n  checkpoint: missing.safetensors\n"),),
         expect=(("missing.safetensors", "model.checkpoint", "file not found: missing.safetensors"),)),
    Case("output-dir-under-a-file", (("output_dir: ", "output_dir: {data}/train/a/0.png/"),),
         expect=(("output_dir", "logging.output_dir", "0.png is a file, so "),)),
    Case("valid-split-missing", (("    valid: {image: {data}/valid}\n", ""),),
         expect=(("path:", "data.path.valid", "is not set: training and evaluation need it"),)),
    Case("several-in-file-order", (("epochs: 1", "epochs: 0"), ("lr: 0.001", "lr: -1"), ("batch_size: 2", "batch_size: 0")),
         expect=(("epochs", "training.epochs", "got 0"), ("lr: -1", "training.optimizer.lr", "got -1"),
                 ("batch_size", "environment.batch_size", "got 0"))),
    Case("override-epochs", overrides=("training.epochs=0",),
         expect=((None, "training.epochs", "expected an integer >= 1; got 0"),)),
    Case("override-optimizer-name", overrides=("training.optimizer.name=sgdd",),
         expect=((None, "training.optimizer.name", "unknown optimizer 'sgdd' (did you mean 'sgd'?)"),)),
    Case("override-transform-size", overrides=("augmentation.train.0.size=-8",),
         expect=((None, "augmentation.train[0].size", "expected an integer >= 1; got -8"),)),
]


def _write(tmp_path: Path, text: str, case: Case, data: Path) -> Path:
    for old, new in case.replace:
        old = old.replace("{data}", str(data))
        assert old in text, f"{case.id}: {old!r} is not in the valid config"
        text = text.replace(old, new.replace("{data}", str(data)), 1)
    path = tmp_path / f"{case.id}.yaml"
    path.write_text(text)
    return path


def _line_of(path: Path, fragment: str) -> int:
    lines = path.read_text().splitlines()
    hits = [i + 1 for i, line in enumerate(lines) if fragment in line]
    assert hits, f"{fragment!r} not in {path}"
    return hits[0]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_check_and_run_reject_alike_and_write_nothing(case, valid_text, tiny_images, tmp_path, cli):
    path = _write(tmp_path, valid_text, case, tiny_images)
    code, check_lines = cli("config", "check", str(path), *case.overrides)
    assert code == 2, check_lines
    assert len(check_lines) == len(case.expect), check_lines
    for line, (fragment, field, message) in zip(check_lines, case.expect):
        where = (f"{re.escape(str(path))}:{_line_of(path, fragment)}:\\d+" if fragment is not None
                 else re.escape("<command line>"))
        assert re.fullmatch(f"nptrain: error: {where}: {re.escape(field)}: .*", line), line
        assert message in line, line
    code, run_lines = cli("run", str(path), *case.overrides)
    assert (code, run_lines) == (2, check_lines)
    assert not (tmp_path / "runs").exists()


def test_the_valid_config_checks_and_trains(valid_text, tmp_path, cli):
    path = tmp_path / "ok.yaml"
    path.write_text(valid_text)
    code, lines = cli("config", "check", str(path))
    assert (code, lines) == (0, [])
    code, lines = cli("run", str(path))
    assert code == 0, lines
    run_dirs = [p for p in (tmp_path / "runs").rglob("summary.json")]
    assert len(run_dirs) == 1 and (run_dirs[0].parent / "weights" / "last.safetensors").is_file()


def test_more_than_a_handful_of_errors_are_cut_with_a_count(valid_text, tiny_images, tmp_path, cli):
    case = Case("many", (("epochs: 1", "epochs: 0"), ("lr: 0.001", "lr: -1"), ("batch_size: 2", "batch_size: 0"),
                         ("num_workers: 0", "num_workers: -1"), ("validation_epoch: 1", "validation_epoch: 0"),
                         ("warmup_epochs: 0", "warmup_epochs: -1"), ("p: 0.5", "p: 5")))
    path = _write(tmp_path, valid_text, case, tiny_images)
    code, lines = cli("config", "check", str(path))
    assert code == 2 and len(lines) == 6, lines
    numbers = [int(line.split(":")[3]) for line in lines[:5]]
    assert numbers == sorted(numbers)  # file order
    assert lines[5] == "nptrain: error: ... and 2 more problem(s) in the config: fix these and check again"


DATA_PROBLEMS = {
    # problem -> (what to do to a fresh copy of the tiny folders, part of the message)
    "empty-class-folder": (lambda d: (d / "train" / "c").mkdir(), "holds no images"),
    "corrupt-image": (lambda d: (d / "train" / "a" / "0.png").write_bytes(b"not a png"), "0.png"),
    "classes-differ": (lambda d: (d / "valid" / "b").rename(d / "valid" / "z"), "class folder(s) z are not in"),
}


@pytest.mark.parametrize("problem", sorted(DATA_PROBLEMS))
def test_data_contents_check_rejects_what_run_rejects(problem, valid_text, tiny_images, tmp_path, cli):
    """Problems found only by reading the data folders: check and run give the same lines, nothing written."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_images, data)
    damage, message = DATA_PROBLEMS[problem]
    damage(data)
    path = tmp_path / f"{problem}.yaml"
    path.write_text(valid_text.replace(str(tiny_images), str(data)))
    code, check_lines = cli("config", "check", str(path))
    assert code == 2 and check_lines and message in " ".join(check_lines), check_lines
    assert all(line.startswith("nptrain: error: ") for line in check_lines), check_lines
    assert cli("run", str(path)) == (2, check_lines)
    assert not (tmp_path / "runs").exists()
