"""The Python API (docs/python.md): train with a progress callback and quiet mode, then evaluate,
predict, export and compress the returned Run, and typed exceptions (never sys.exit) for bad input."""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest

import nptrain
from nptrain.errors import ConfigError, UserError


@pytest.fixture(scope="module")
def trained(tmp_path_factory, digits_dir):
    """(Run, rows given to on_epoch_end, what the quiet run printed)."""
    from tests.training.conftest import SMALL_CONFIG

    tmp = tmp_path_factory.mktemp("api")
    cfg = tmp / "small.yaml"
    cfg.write_text(SMALL_CONFIG.format(out=tmp / "runs", data=digits_dir))
    rows: list[dict] = []
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        run = nptrain.train(cfg, overrides={"training.epochs": 2, "logging.csv": True}, name="api",
                            on_epoch_end=rows.append, quiet=True)
    return run, rows, printed.getvalue()


def test_train_returns_the_run_calls_back_each_epoch_and_stays_quiet(trained):
    run, rows, printed = trained
    assert printed == ""
    assert isinstance(run, nptrain.Run) and run.dir.name == "api" and (run.dir / "weights" / "best.safetensors").is_file()
    assert [r["epoch"] for r in rows] == [1, 2]
    assert all({"train_loss", "valid_top1_accuracy", "lr", "time_s"} <= set(r) for r in rows)
    best = max(rows, key=lambda r: r["valid_top1_accuracy"])
    assert run.best["epoch"] == best["epoch"] and run.best["key"] == "valid_top1_accuracy"
    assert run.metrics["top1_accuracy"] == pytest.approx(best["valid_top1_accuracy"])
    assert run.metrics["top1_accuracy"] > 0.2  # two tiny epochs; chance is 0.1
    assert [r["epoch"] for r in run.history] == [1, 2] and run.task == "classification"
    assert run.classes == [str(i) for i in range(10)]


def test_evaluate_predict_export_compress_on_the_run(trained, digits_dir):
    run, rows, _ = trained
    res = nptrain.evaluate(run)
    assert res.primary == "top1_accuracy" and res.samples == sum(1 for _ in (digits_dir / "valid").rglob("*.png"))
    assert res.metrics["top1_accuracy"] == pytest.approx(run.metrics["top1_accuracy"])
    assert res.weights == run.dir / "weights" / "best.safetensors"
    last = nptrain.evaluate(str(run.dir), weights="last")
    assert last.metrics["top1_accuracy"] == pytest.approx(rows[-1]["valid_top1_accuracy"])

    images = sorted((digits_dir / "valid" / "3").iterdir())[:4]
    preds = nptrain.predict(run, images, topk=3)
    assert [p.image for p in preds] == [str(p) for p in images] and preds.files == []
    for p in preds:
        assert isinstance(p, nptrain.ClassScores) and len(p.top) == 3 and p.files == ()
        assert p.probabilities.shape == (10,) and p.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
        assert p.label == run.classes[int(p.probabilities.argmax())] and p.score == pytest.approx(p.probabilities.max())
        assert [t[2] for t in p.top] == sorted((t[2] for t in p.top), reverse=True)
    assert not (run.dir / "predictions").exists()  # no output folder asked: nothing written
    written = nptrain.predict(run, images[0], output=run.dir / "preds")
    assert written.files == [run.dir / "preds" / "predictions.csv", run.dir / "preds" / "predictions.png"]

    fx = nptrain.export(run, format="fx", log=lambda _m: None)
    assert fx.path == run.dir / "exports" / "model-best_fx.pt" and fx.path.is_file()
    assert fx.weights == run.dir / "weights" / "best.safetensors" and fx.weights_note.startswith("best epoch ")

    small = nptrain.compress(run, ratio=0.5)
    assert small.params_after < 0.6 * small.params_before and small.max_abs_diff < 1e-4
    assert small.dir == run.dir / "compressed-l1-0.5" and small.retrain_config.is_file()


def test_bad_input_raises_the_projects_errors(trained, tmp_path):
    run, _, _ = trained
    with pytest.raises(UserError, match="no config file given"):
        nptrain.train()
    with pytest.raises(ConfigError) as info:
        nptrain.train(run.dir / "config.yaml", overrides={"training.epochs": "many"})
    assert "<command line>" in str(info.value) and "training.epochs" in str(info.value)
    with pytest.raises(UserError, match="override key 'a=b'"):
        nptrain.train(run.dir / "config.yaml", overrides={"a=b": 1})
    with pytest.raises(UserError, match=f"image not found: {tmp_path / 'nope.png'}"):
        nptrain.predict(run, tmp_path / "nope.png")
    with pytest.raises(UserError, match="export format 'tflite': expected one of onnx, fx"):
        nptrain.export(run, format="tflite")
    with pytest.raises(UserError, match="weights 'first'"):
        nptrain.evaluate(run, weights="first")
    with pytest.raises(UserError, match="--ratio must be between 0 and 1"):
        nptrain.compress(run, ratio=2)
    with pytest.raises(UserError, match="not a run directory"):
        nptrain.Run(tmp_path)
