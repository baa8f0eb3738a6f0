"""Run names stay inside logging.output_dir, run files honour the umask, temporaries of killed writes
are cleaned up, and an empty class folder is refused before anything is written."""
from __future__ import annotations

import os
import stat
import pytest

from nptrain.cli.main import main
from nptrain.training_io import atomic_write_bytes


def cli(capsys, *args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("name", ["../../x", "a/b", "..", "a\\b"])
def test_run_name_with_path_parts_is_refused(name, tiny_config, tmp_path, capsys):
    code, err = cli(capsys, "run", *tiny_config(), "--name", name)
    assert code == 2
    assert err.startswith(f"nptrain: error: --name {name!r} ") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists() and not (tmp_path / "x").exists()


def test_model_name_that_escapes_is_a_located_error(tiny_config, tmp_path, capsys):
    base, extra = tiny_config("model:\n  name: ../../escaped\n"
                              "  architecture: {backbone: {name: simple_cnn}, head: {name: fc}}\n", name="esc")
    code, err = cli(capsys, "run", base, extra)
    assert code == 2
    assert err.strip() == (f"nptrain: error: {extra}:2:9: model.name: contains '/': a run name is one folder name, "
                           "without path separators, so it cannot name the run directory; pass --name NAME")
    assert not list(tmp_path.rglob("escaped"))


@pytest.fixture
def umask():
    """umask(mask) for the rest of the test; the old one comes back afterwards."""
    old = os.umask(0o022)
    os.umask(old)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_honour_the_umask(mask, mode, umask, tmp_path):
    umask(mask)
    atomic_write_bytes(tmp_path / "f.json", b"{}")
    assert stat.S_IMODE((tmp_path / "f.json").stat().st_mode) == mode


def test_run_files_honour_the_umask_and_resume_removes_stale_temps(tiny_config, umask, tmp_path, capsys):
    umask(0o022)
    code, err = cli(capsys, "run", *tiny_config(), "--name", "perm")
    assert code == 0, err
    run = tmp_path / "runs" / "classification" / "perm"
    files = [p for p in run.rglob("*") if p.is_file()]
    assert {p.relative_to(run).as_posix() for p in files} >= {
        "config.yaml", "classes.json", "summary.json", "weights/best.safetensors", "weights/last.safetensors",
        "weights/last_optimizer.pt"}
    assert {p.relative_to(run).as_posix(): oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == \
        {p.relative_to(run).as_posix(): "0o644" for p in files}
    # a checkpoint write killed between create and rename leaves its temporary behind
    stale = [run / "weights" / ".last_optimizer.pt.k1ll3d0x.tmp", run / ".summary.json.zz9_ab12.tmp",
             run / ".results.png.tmp.png"]
    for path in stale:
        path.write_bytes(b"half")
    code, err = cli(capsys, "run", "--resume", run, "training.epochs=2")
    assert code == 0, err
    assert [p for p in stale if p.exists()] == []
    assert not [p for p in run.rglob(".*.tmp")]


def test_next_write_removes_only_its_own_stale_temps(tmp_path):
    own = tmp_path / ".last.safetensors.a1b2c3d4.tmp"
    other = tmp_path / ".last.safetensors.bak.a1b2c3d4.tmp"  # the temporary of another file
    own.write_bytes(b"x")
    other.write_bytes(b"y")
    atomic_write_bytes(tmp_path / "last.safetensors", b"data")
    assert not own.exists() and other.exists()
    assert (tmp_path / "last.safetensors").read_bytes() == b"data"


def test_empty_class_folder_is_refused_before_the_run_dir(tiny_config, tiny_data, tmp_path, capsys):
    (tiny_data / "train" / "cats").mkdir()
    code, err = cli(capsys, "run", *tiny_config(), "--name", "empty")
    assert code == 2
    assert err.strip() == (f"nptrain: error: data.path.train.image: class folder {tiny_data / 'train' / 'cats'} "
                           "holds no images (.bmp, .gif, .jpeg, .jpg, .png, .tif, .tiff, .webp); "
                           "add images to it or delete it")
    assert not (tmp_path / "runs").exists()


def test_hidden_folders_are_not_classes(tiny_config, tiny_data, tmp_path, capsys):
    (tiny_data / "train" / ".ipynb_checkpoints").mkdir()
    code, err = cli(capsys, "run", *tiny_config(), "--name", "hidden")
    assert code == 0, err
    classes = (tmp_path / "runs" / "classification" / "hidden" / "classes.json").read_text()
    assert ".ipynb" not in classes and '"c2"' in classes


@pytest.mark.parametrize("content", ['{"not": "a list"}', "[1, 2]", "[]", "{broken", "\xff\xfe"])
def test_a_garbled_classes_json_is_a_one_line_error(tmp_path, content) -> None:
    """A run directory is someone else's data: its classes.json is checked, never an internal error."""
    from nptrain.errors import UserError
    from nptrain.run_files import read_classes

    (tmp_path / "classes.json").write_bytes(content.encode("latin-1"))
    with pytest.raises(UserError, match="classes.json"):
        read_classes(tmp_path)


def test_classes_fall_back_to_the_summary_and_a_missing_pair_is_named(tmp_path) -> None:
    from nptrain.errors import UserError
    from nptrain.run_files import read_classes

    with pytest.raises(UserError, match="no classes.json"):
        read_classes(tmp_path)
    (tmp_path / "summary.json").write_text('{"classes": ["cat", "dog"]}')
    assert read_classes(tmp_path) == ["cat", "dog"]
