"""YAML alias bombs, recursive aliases, absurd nesting and oversized files in every YAML nptrain reads
(configs, overrides, zoo recipes, model cards); ordinary anchors keep working.

A bomb would take gigabytes on an unprotected reader, so those cases run in a child process with a
memory limit and a timeout: an unprotected reader fails the test instead of the machine."""
from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nptrain.config.yaml_io import read_yaml
from nptrain.errors import ConfigError

STUB = "cv/classification/simple_cnn/pytorch/nptrain/digits/base-none"
LEVELS = "abcdefghi"
# nine levels of nine aliases: 9**9 (387 million) leaves from 400 bytes; level f is the first past 100,000 nodes
BOMB = "".join(f"{x}: &{x} [" + ", ".join([f"*{LEVELS[i - 1]}"] * 9 if i else ['"lol"'] * 9) + "]\n"
               for i, x in enumerate(LEVELS))
BOMB_LINE, BOMB_COL = 6, 4  # the anchored node of level f


def run_limited(args: list[str], *, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``args`` with at most 3 GiB of address space (torch fits) and ``timeout`` seconds."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, preexec_fn=limit,
                          env={**os.environ, **(env or {})})


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    return proc.stderr.strip()


def test_config_check_refuses_an_alias_bomb(tmp_path):
    assert len(BOMB) < 500 and BOMB.splitlines()[BOMB_LINE - 1][BOMB_COL - 1:].startswith("&f [")
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    line = one_line_error(run_limited([sys.executable, "-m", "nptrain", "config", "check", str(path)]))
    assert line == (f"nptrain: error: {path}:{BOMB_LINE}:{BOMB_COL}: YAML aliases expand to more than 100,000 nodes "
                    "here (an alias bomb?); nptrain refuses documents that large")


def test_zoo_validate_refuses_a_recipe_alias_bomb(tmp_path):
    import torch
    from safetensors.torch import save_file

    from nptrain.zoo.card import ModelCard

    entry = tmp_path / "zoo" / STUB
    (entry / "recipes").mkdir(parents=True)
    (entry / "model.md").write_text(ModelCard(stub=STUB, task="classification", architecture="simple_cnn",
                                              dataset="digits", params=1, num_classes=2).render())
    (entry / "recipes" / "training.yaml").write_text(BOMB)
    for folder, name in (("sample-inputs", "inputs"), ("sample-outputs", "outputs")):
        (entry / folder).mkdir()
        save_file({name: torch.zeros(1, 2)}, str(entry / folder / f"{name}.safetensors"))
    files = {p.relative_to(entry).as_posix(): {"sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
                                               "size": p.stat().st_size} for p in entry.rglob("*") if p.is_file()}
    (entry / "manifest.json").write_text(json.dumps({"files": files}))
    proc = run_limited([sys.executable, "-m", "nptrain", "zoo", "validate", STUB], env={"NPTRAIN_ZOO": str(tmp_path / "zoo")})
    assert one_line_error(proc).startswith(
        f"nptrain: error: {entry / 'recipes' / 'training.yaml'}:{BOMB_LINE}:{BOMB_COL}: YAML aliases expand")


def test_model_card_and_override_alias_bombs_are_refused(tmp_path):
    card = tmp_path / "model.md"
    front = BOMB + f"stub: {STUB}\ntask: classification\n"
    card.write_text(f"---\n{front}---\n\nbody\n")
    bomb_value = "{" + BOMB.strip().replace("\n", ", ") + "}"
    script = textwrap.dedent(f"""
        from pathlib import Path
        from nptrain.errors import UserError
        from nptrain.zoo.store import read_card
        from nptrain.config.yaml_io import LocatedConfig, apply_override
        for attempt in (lambda: read_card(Path({str(card)!r})),
                        lambda: apply_override(LocatedConfig(), "training.x=" + {bomb_value!r})):
            try:
                attempt()
                print("accepted")
            except UserError as exc:
                print(exc)
        """)
    proc = run_limited([sys.executable, "-c", script], timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    card_error, override_error = proc.stdout.strip().splitlines()
    # the front matter starts on line 2 of the card: its lines are reported as the card's
    assert card_error.startswith(f"{card}:{BOMB_LINE + 1}:{BOMB_COL}: YAML aliases expand to more than 100,000 nodes")
    assert override_error.startswith("<command line>: override 'training.x={a: &a") and \
        override_error.endswith("YAML aliases expand to more than 100,000 nodes here (an alias bomb?); nptrain "
                                "refuses documents that large")


def test_recursive_alias_is_a_located_error(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("training:\n  epochs: 1\nmodel: &m\n  inner: *m\n")
    with pytest.raises(ConfigError, match=rf"^{path}:3:8: recursive YAML alias \(an anchor used inside itself\)"):
        read_yaml(path)


@pytest.mark.parametrize("text,where", [
    ("model: " + "[" * 1000 + "]" * 1000 + "\n", "1:108"),  # flow nesting: refused before parsing
    ("model:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 120)) + "  " * 120 + "x: 1\n", r"\d+:\d+"),
])
def test_absurd_nesting_is_a_located_error(tmp_path, text, where):
    path = tmp_path / "deep.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"^{path}:{where}: YAML nested more than 100 levels deep"):
        read_yaml(path)
    path.write_text("m: ['" + "[" * 500 + "', \"{{\\\"\", 'it''s [']  # brackets in strings nest nothing\n")
    assert read_yaml(path)[0] == {"m": ["[" * 500, '{{"', "it's ["]}


def test_oversized_config_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "big.yaml"
    with open(path, "w") as fh:
        fh.write("training:\n  epochs: 1\n")
        fh.write("# padding\n" * 200_000)  # 2 MB of valid YAML
    with pytest.raises(ConfigError, match=rf"^{path}: config file is larger than 1,048,576 bytes"):
        read_yaml(path)


def test_ordinary_anchors_and_merge_keys_keep_working(tmp_path):
    """NetsPresso Trainer's YOLOX configs name the depth multiplier once and reuse it in the neck."""
    from nptrain.config.loader import load_config

    path = tmp_path / "yolox_anchors.yaml"
    path.write_text(textwrap.dedent("""
        model:
          task: detection
          name: yolox_s
          architecture:
            backbone:
              params:
                dep_mul: &dep_mul 0.33
                wid_mul: &wid_mul 0.25
                act_type: &act_type silu
            neck:
              params:
                dep_mul: *dep_mul
                act_type: *act_type
        training:
          optimizer: &adamw {name: adamw, lr: 0.001}
        environment: {seed: &seed 7}
        logging: {output_dir: *act_type}
        """).lstrip())
    loaded = load_config([str(path)], check_files=False)
    backbone, neck = loaded.resolved.backbone.params, loaded.resolved.neck.params
    assert (backbone.dep_mul, backbone.wid_mul, neck.dep_mul) == (0.33, 0.25, 0.33)
    assert neck.act_type == backbone.act_type == "silu"
    assert loaded.run.logging.output_dir == "silu" and loaded.run.environment.seed == 7
    assert loaded.located.locate(("model", "architecture", "neck", "params", "dep_mul"), value=False).line == 12
