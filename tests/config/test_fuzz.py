"""Nothing a user can type ends in "internal error": a few hundred mutated configs (types swapped,
numbers negated, names misspelt, keys and sections deleted) go through ``config check`` in-process and
exit 0 or 2; rejected ones are rejected by ``run`` with the same lines and no run directory (every third
is run, to keep the test fast)."""
from __future__ import annotations

import copy
import json
import random
from typing import Any

SEED = 20261130
COUNT = 250
# values a mutation may put anywhere: every scalar type, empty and odd containers, extremes
ODD_VALUES = ["x", "", 0, -1, 3, 1.5, -0.5, 1e30, float("nan"), True, False, None, [], [1, 2], [-1, "a"], {}, {"a": 1}]


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key or list position in the config, as a path."""
    out = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        out.append(prefix + (key,))
        out += _paths(value, prefix + (key,))
    return out


def _holder(root: Any, path: tuple) -> Any:
    for key in path[:-1]:
        root = root[key]
    return root


def _misspell(word: str, rng: random.Random) -> str:
    if len(word) < 2:
        return word + "x"
    i = rng.randrange(len(word) - 1)
    edit = rng.choice(("swap", "drop", "double"))
    if edit == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if edit == "drop":
        return word[:i] + word[i + 1:]
    return word[:i] + word[i] + word[i:]


def mutate(config: dict, rng: random.Random) -> dict:
    """One to three random edits of a deep copy of ``config``."""
    out = copy.deepcopy(config)
    for _ in range(rng.randint(1, 3)):
        paths = _paths(out)
        if not paths:
            break
        path = rng.choice(paths)
        holder, key = _holder(out, path), path[-1]
        value = holder[key]
        op = rng.choice(("swap_type", "negate", "misspell_key", "misspell_value", "delete", "delete_section"))
        if op == "swap_type":
            holder[key] = copy.deepcopy(rng.choice(ODD_VALUES))
        elif op == "negate" and isinstance(value, (int, float)) and not isinstance(value, bool):
            holder[key] = rng.choice((-value, 0, -1))
        elif op == "misspell_key" and isinstance(holder, dict):
            holder[_misspell(str(key), rng)] = holder.pop(key)
        elif op == "misspell_value" and isinstance(value, str):
            holder[key] = _misspell(value, rng)
        elif op == "delete" and isinstance(holder, dict):
            del holder[key]
        elif op == "delete" and isinstance(holder, list):
            holder.pop(key)
        elif op == "delete_section" and out:
            del out[rng.choice(sorted(out))]
        else:  # the operation does not apply here: swap the type instead
            holder[key] = copy.deepcopy(rng.choice(ODD_VALUES))
    return out


def test_mutated_configs_exit_0_or_2_and_run_rejects_alike(valid_text, tmp_path, cli):
    from ruamel.yaml import YAML

    base = YAML(typ="safe").load(valid_text)
    rng = random.Random(SEED)
    statuses = {0: 0, 2: 0}
    for n in range(COUNT):
        config = mutate(base, rng)
        path = tmp_path / f"m{n}.yaml"
        # JSON is YAML; allow_nan writes NaN, which YAML reads as a string: still a mutation
        path.write_text(json.dumps(config, indent=1))
        code, lines = cli("config", "check", str(path))
        assert code in (0, 2), (path.read_text(), lines)
        statuses[code] += 1
        if code == 2:
            assert lines and all(line.startswith("nptrain: error: ") for line in lines), lines
            assert len(lines) <= 6
            if statuses[2] % 3 == 1:  # every third: run costs as much again (tests/config/test_corpus.py does each)
                assert cli("run", str(path)) == (2, lines), path.read_text()
    assert not (tmp_path / "runs").exists()
    # the mutations reach both outcomes (neither all accepted nor all rejected)
    assert statuses[0] > 10 and statuses[2] > COUNT // 2, statuses
