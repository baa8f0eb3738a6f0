"""Distillation through the whole run: compress writes the teacher into retrain.yaml, a distilled retrain
resumes bit-identically, saves the student alone, and teacher problems are one-line located errors."""
from __future__ import annotations

import csv
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from nptrain.cli.main import main
from nptrain.config.loader import load_config
from nptrain.errors import ConfigError
from nptrain.training.engine import run_training

from .conftest import SMALL_CONFIG


@pytest.fixture(scope="module")
def mini_digits(tmp_path_factory, digits_dir) -> Path:
    """24 training and 8 validation images per class (links into the digits folders): these tests check
    mechanics, not accuracy, so each epoch costs a sixth of the full set."""
    out = tmp_path_factory.mktemp("mini_digits")
    for split, n in (("train", 24), ("valid", 8)):
        for cls in sorted(p for p in (digits_dir / split).iterdir() if p.is_dir()):
            (out / split / cls.name).mkdir(parents=True)
            for img in sorted(cls.iterdir())[:n]:
                (out / split / cls.name / img.name).symlink_to(img)
    return out


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory, mini_digits) -> Path:
    """The small digits model trained four epochs on the mini set: the teacher of every test here."""
    work = tmp_path_factory.mktemp("teacher")
    cfg = work / "teacher.yaml"
    cfg.write_text(SMALL_CONFIG.format(data=mini_digits, out=work / "runs"))
    # 15 steps an epoch at batch 16 with a higher LR: a teacher far better than chance (about 0.8 top-1)
    overrides = ["training.epochs=4", "environment.batch_size=16", "training.optimizer.lr=0.01",
                 "training.scheduler.warmup_epochs=0"]
    run = run_training(load_config([cfg], overrides), name="teacher", log=lambda _m: None)
    assert run is not None
    return run


@pytest.fixture(scope="module")
def retrain_yaml(teacher_run) -> Path:
    """``nptrain compress`` of the teacher at 0.5: its retrain.yaml names the teacher."""
    out = teacher_run / "compressed"
    assert main(["compress", str(teacher_run), "--ratio", "0.5", "-o", str(out)]) == 0
    return out / "retrain.yaml"


def test_compress_writes_the_run_as_teacher_with_a_comment(retrain_yaml, teacher_run):
    text = retrain_yaml.read_text()
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip() == "distillation:")
    assert "training.distillation=null" in lines[at - 1] and lines[at - 1].strip().startswith("#")
    loaded = load_config([retrain_yaml])
    dist = loaded.run.training.distillation
    assert dist.teacher == str(teacher_run.resolve()) and dist.kind == "auto" and (dist.weight, dist.temperature) == (0.9, 1.0)
    assert load_config([retrain_yaml], ["training.distillation=null"]).run.training.distillation is None


DISTILLED = """
training:
  epochs: 2
  distillation: {kind: both, temperature: 2.0, weight: 0.5}
augmentation:
  train:
    - {name: resize, size: 16}
    - {name: randomresizedcrop, size: 16, scale: [0.7, 1.0]}
    - {name: normalize, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]}
    - {name: mixing, mixup: [0.4, 0.5], cutmix: [1.0, 0.5]}
"""


def test_distilled_retrain_resumes_bit_identical_and_saves_the_student_only(retrain_yaml, tmp_path,
                                                                          resumed_equals_full):
    """The pruned model retrained with logits + features from its teacher (mixup/cutmix on): stopping
    after epoch 1 and resuming ends with exactly the uninterrupted weights and projections; the weights
    files hold the student's keys only, the training state holds the 1x1 projections."""
    extra = tmp_path / "distilled.yaml"
    extra.write_text(textwrap.dedent(DISTILLED) + f"logging: {{output_dir: {tmp_path / 'runs'}}}\n")
    paths = [str(retrain_yaml), str(extra)]
    lines: list[str] = []
    full, part = resumed_equals_full(paths, log=lines.append)
    header = next(line for line in lines if line.startswith("distillation: teacher "))
    assert "kind both" in header and "img/s below includes the teacher's forward" in header
    assert "1x1 projection" in header
    sf, sp = (torch.load(d / "weights" / "last_optimizer.pt") for d in (full, part))
    assert sf["distill"] and sf["distill"].keys() == sp["distill"].keys()
    assert all(torch.equal(sf["distill"][k], sp["distill"][k]) for k in sf["distill"])
    assert any(v.dim() == 4 and v.shape[2:] == (1, 1) for v in sf["distill"].values())  # 1x1 convs
    student_keys = set(sf["model"])
    for name in ("last.safetensors", "best.safetensors"):
        assert set(load_file(str(full / "weights" / name))) == student_keys  # no teacher, no projection
    assert not any(k.startswith(("distill", "teacher", "projections")) for k in student_keys)
    assert sf["optimizer"]["param_groups"][-1]["names"][0].startswith("distill.")
    rows = list(csv.DictReader((full / "results.csv").open()))
    assert float(rows[-1]["train_loss_kd"]) > 0 and float(rows[-1]["train_loss_feat"]) > 0
    assert float(rows[-1]["train_loss"]) == pytest.approx(
        0.5 * float(rows[-1]["train_loss_task"]) + 0.5 * (float(rows[-1]["train_loss_kd"]) + float(rows[-1]["train_loss_feat"])),
        rel=1e-4)
    # the projections cannot be dropped halfway: one line, exit 2, not an optimizer-group mismatch
    assert main(["run", *paths, "--resume", str(part), "training.distillation=null", "training.epochs=3"]) == 2


@pytest.mark.parametrize("yaml,where,message", [
    ("training:\n  distillation: {teacher: RUN, kind: logit}\n", "training.distillation.kind",
     "did you mean 'logits'?"),
    ("training:\n  distillation: {teacher: /nonexistent/run}\n", "training.distillation.teacher",
     "run directory not found: /nonexistent/run"),
    ("training:\n  distillation: {teacher: RUN, weight: 1.5}\n", "training.distillation.weight", "in [0, 1]"),
    ("training:\n  distillation: {teacher: RUN, feature_pairs: [{student: 0}]}\n",
     "training.distillation.feature_pairs", "teacher"),
    ("training:\n  distillation: {teacher: {config: c.yaml}}\n", "training.distillation.teacher", "checkpoint"),
    ("training:\n  distillation: {teacher: {config: /no/c.yaml, checkpoint: /no/w.safetensors}}\n",
     "training.distillation.teacher.config", "file not found: /no/c.yaml"),
    ("training:\n  distillation: {teacher: 3}\n", "training.distillation.teacher", "expected a run directory"),
])
def test_config_errors_are_located(config_pair, mini_digits, teacher_run, yaml, where, message):
    paths = config_pair(SMALL_CONFIG, "small", yaml.replace("RUN", str(teacher_run)), data=mini_digits)
    with pytest.raises(ConfigError) as err:
        load_config(paths)
    text = str(err.value)
    assert f"{paths[1]}:2:" in text and where in text and message in text, text


def test_a_teacher_pickle_is_refused_in_one_line(config_pair, mini_digits, teacher_run, tmp_path, capsys):
    """A torch.fx .pt named only by the config is not unpickled without --trust-pickle: one located line, exit 2."""
    paths = config_pair(SMALL_CONFIG, "small", "training: {epochs: 1}\n", data=mini_digits)
    fx = tmp_path / "model_fx.pt"
    torch.save({"not": "a graph"}, fx)
    assert main(["run", *paths, f"training.distillation.teacher.config={teacher_run}/config.yaml",
                 f"training.distillation.teacher.checkpoint={fx}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nptrain: error: ") and "Traceback" not in err[0], err
    assert f"{paths[0]}" not in err[0] or "training.distillation" in err[0]
    assert "training.distillation.teacher.checkpoint" in err[0] and "--trust-pickle" in err[0]
    assert not (tmp_path / "runs").exists()  # refused before the run directory exists


def _teacher_error(teacher, task="classification", classes=None) -> str:
    from nptrain.config.distillation_section import DistillationConfig
    from nptrain.teacher import load_teacher, teacher_outputs_check

    refuse = lambda path, msg: ConfigError(msg, field="training.distillation." + ".".join(map(str, path)))  # noqa: E731
    dist = DistillationConfig(teacher=teacher)
    with pytest.raises(ConfigError) as err:
        loaded = load_teacher(dist, task, 10, refuse=refuse, log=lambda _m: None)
        teacher_outputs_check(loaded, classes or [], "logits", refuse)
    return str(err.value)


def test_teacher_problems_name_the_field(teacher_run, tmp_path):
    from nptrain.config.distillation_section import TeacherFiles

    det = tmp_path / "det.yaml"
    det.write_text("model: {name: yolox_nano, task: detection}\n")
    best = str(teacher_run / "weights" / "best.safetensors")
    msg = _teacher_error(TeacherFiles(config=str(det), checkpoint=best))
    assert msg.startswith("training.distillation.teacher.config: the teacher is a detection model; this run trains classification")
    assert "a classification model; this run trains segmentation" in _teacher_error(str(teacher_run), "segmentation")
    other = tmp_path / "other.yaml"  # another architecture: the weights do not fit
    other.write_text("model: {name: yolox_nano, task: classification, architecture: {backbone: {name: cspdarknet}, "
                     "head: {name: fc}}}\n")
    msg = _teacher_error(TeacherFiles(config=str(other), checkpoint=best))
    assert msg.startswith("training.distillation.teacher.checkpoint: ") and "does not fit" in msg
    empty = tmp_path / "empty_run"
    empty.mkdir()
    (empty / "config.yaml").write_text((teacher_run / "config.yaml").read_text())
    assert "no weights/best.safetensors" in _teacher_error(str(empty))
    msg = _teacher_error(str(teacher_run), classes=list("abcdefghij"))  # logits compare class by class
    assert "same classes" in msg and "kind: features" in msg


DDP_WORKER = """
import os, sys
from pathlib import Path

import torch
import torch.multiprocessing as mp


def worker(rank, world, port, paths, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    import torch.distributed as dist

    from nptrain.config.loader import load_config
    from nptrain.training.engine import Trainer

    trainer = Trainer(load_config(paths), name="ddp", log=lambda _m: None)
    trainer.fit()
    torch.save({"model": trainer.model.state_dict(), "distill": trainer.distiller.state_dict(),
                "row": trainer.history[-1]}, Path(out) / f"rank{rank}.pt")
    dist.destroy_process_group()


if __name__ == "__main__":
    port, out, *paths = sys.argv[1:]
    mp.start_processes(worker, args=(2, int(port), paths, out), nprocs=2, join=True, start_method="spawn")
"""


@pytest.mark.slow
def test_two_process_ddp_with_a_teacher(retrain_yaml, tmp_path):
    """Two gloo ranks distil the pruned model (logits + features): the student and the 1x1 projections
    (which live outside DistributedDataParallel and are averaged by hand) end identical on both ranks."""
    import socket
    import subprocess
    import sys

    extra = tmp_path / "ddp.yaml"
    extra.write_text(f"training: {{epochs: 1, distillation: {{kind: both}}}}\nlogging: {{output_dir: {tmp_path / 'runs'}}}\n"
                     "environment: {deterministic: false}\n")
    script = tmp_path / "ddp_worker.py"
    script.write_text(DDP_WORKER)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run([sys.executable, str(script), str(port), str(tmp_path), str(retrain_yaml), str(extra)],
                   check=True, timeout=300)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert r0["distill"] and any(v.dim() == 4 for v in r0["distill"].values())
    for part in ("model", "distill"):
        assert r0[part].keys() == r1[part].keys()
        assert all(torch.equal(r0[part][k], r1[part][k]) for k in r0[part]), part
    assert r0["row"]["train_loss_feat"] == r1["row"]["train_loss_feat"] > 0  # reduced over both ranks
    assert [p.name for p in (tmp_path / "runs" / "classification").iterdir()] == ["ddp"]


def _valid_logits(run_dir: Path, images: torch.Tensor) -> torch.Tensor:
    from nptrain.api.evaluate import load_run

    _, model, _ = load_run(run_dir, [])
    with torch.no_grad():
        return model(images)


def test_distillation_pulls_the_student_towards_its_teacher(retrain_yaml, teacher_run, mini_digits, tmp_path):
    """The fast check behind test_distill_proof: one epoch of retraining as retrain.yaml writes it leaves the
    pruned student closer to its teacher (KL, teacher || student, over the 320 mini images through the
    inference transforms) than one epoch of plain retraining from the same seed, for each of three seeds.

    Each pair differs only in the teacher term (same seed, data order and crops), so a distillation that
    did nothing would give equal gaps and fail the strict comparison. Measured (2026-12-07, mean ratio of
    the gaps over seeds 3, 4, 5): float32 0.79 (per seed 0.70, 0.80, 0.88; 1 and 2 threads alike), bf16
    forced with ``NPTRAIN_NATIVE_BF16=1`` 0.77 (0.67, 0.77, 0.86). One seed on 80 images, as this test was
    before, read 0.69 here and 0.92 on an AVX512-BF16 machine at one thread: one pair is too noisy to
    carry a margin, three pairs on four times the images are not."""
    from nptrain.training.distill import kd_logits_loss
    from nptrain.training.setup import build_data

    images = []
    for folder in ("train", "valid"):  # inference transforms for both folders
        data = build_data(load_config([retrain_yaml], [f"data.path.valid.image={mini_digits / folder}"]),
                          need_train=False)
        images += [data.valid[(i, 0)][0] for i in range(len(data.valid))]
    batch = torch.stack(images)
    teacher = _valid_logits(teacher_run, batch)
    ratios = []
    for seed in (3, 4, 5):
        common = ["training.epochs=1", f"environment.seed={seed}", f"logging.output_dir={tmp_path / 'runs'}"]
        plain = run_training(load_config([retrain_yaml], common + ["training.distillation=null"]),
                             name=f"plain-{seed}", log=lambda _m: None)
        distilled = run_training(load_config([retrain_yaml], common), name=f"distilled-{seed}", log=lambda _m: None)
        gap = {name: float(kd_logits_loss(_valid_logits(run, batch), teacher, 1.0))
               for name, run in (("plain", plain), ("distilled", distilled))}
        assert gap["distilled"] < gap["plain"], (seed, gap)
        ratios.append(gap["distilled"] / gap["plain"])
    assert sum(ratios) / len(ratios) < 0.92, ratios
