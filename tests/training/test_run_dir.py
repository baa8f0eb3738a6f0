"""Run directories are claimed, never reused, and their numbering stays readable."""
from nptrain.training.outputs import new_run_dir


def test_numbering_never_overwrites(tmp_path):
    names = [new_run_dir(str(tmp_path), "classification", "simple_cnn").name for _ in range(3)]
    assert names == ["simple_cnn", "simple_cnn2", "simple_cnn3"]


def test_names_ending_in_a_digit_get_a_separator(tmp_path):
    names = [new_run_dir(str(tmp_path), "classification", "resnet18").name for _ in range(2)]
    assert names == ["resnet18", "resnet18-2"]
    assert (tmp_path / "classification" / "resnet18-2" / "weights").is_dir()
