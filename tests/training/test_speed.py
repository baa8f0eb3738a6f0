"""Speed levers keep results: bf16 autocast trains to fp32's accuracy, channels_last equals contiguous,
the thread setting is applied (also to loader workers), and the header names what a run uses."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nptrain.config.loader import load_config
from nptrain.training.engine import Trainer, run_training
from nptrain.training.precision import choose_precision, native_bf16
from nptrain.training.speed import configure_speed
from nptrain.training.threads import (ContentionWatch, ThreadChoice, choose_threads, physical_cores, set_spin_env,
                                     spin_env_note)


def _best(run_dir: Path) -> float:
    return json.loads((run_dir / "summary.json").read_text())["best"]["metrics"]["valid_top1_accuracy"]


@pytest.mark.slow
def test_bf16_autocast_reaches_float32_accuracy(small_config, tmp_path):
    """Forced bf16 (emulated on a CPU without native bf16) trains digits to fp32's accuracy."""
    logs: dict[str, list[str]] = {"fp32": [], "bf16": []}
    acc = {}
    for name, flag in (("fp32", "false"), ("bf16", "true")):
        loaded = load_config(small_config(f"training: {{mixed_precision: {flag}, epochs: 2}}\n", name=name), [])
        run = run_training(loaded, name=name, log=logs[name].append)
        acc[name] = _best(run)
    assert "speed: bf16 autocast" in logs["bf16"][0] and logs["fp32"][0].startswith("speed: float32")
    assert acc["fp32"] >= 0.75, acc  # 2 short epochs of the small digits model reach about 0.80
    assert abs(acc["bf16"] - acc["fp32"]) <= 0.03, acc


def test_precision_choice_per_device_and_cpu():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert choose_precision("auto", cpu, native="AMX").dtype is torch.bfloat16
    assert choose_precision("auto", cpu, native="AMX").describe == "bf16 autocast (AMX)"
    no = choose_precision("auto", cpu, native=None, probe=False)
    assert no.dtype is None and no.describe == "float32: this CPU has no native bf16"
    forced = choose_precision(True, cpu, native=None, probe=False)
    assert forced.dtype is torch.bfloat16 and not forced.scaler and "emulated" in forced.describe
    assert choose_precision(False, cpu, native="AMX").dtype is None
    assert choose_precision(True, cuda).dtype is torch.float16 and choose_precision(True, cuda).scaler
    assert choose_precision("auto", cuda).dtype is None
    # native only with a bf16 unit in the CPU flags (and oneDNN agreeing)
    assert native_bf16({"avx2", "fma"}) is None
    assert native_bf16(set()) is None
    expected = "AMX" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else None
    assert native_bf16({"avx512f", "amx_bf16", "avx512_bf16"}) == expected


def test_native_bf16_probe_override(monkeypatch):
    """NPTRAIN_NATIVE_BF16 decides the probe (so CI reproduces a bf16 machine's numerics on any CPU); the
    setting still wins (false stays float32); explicit flags are never overridden; a typo is one line."""
    from nptrain.errors import UserError

    cpu = torch.device("cpu")
    monkeypatch.setenv("NPTRAIN_NATIVE_BF16", "1")
    on = choose_precision("auto", cpu)
    assert on.dtype is torch.bfloat16 and on.describe == "bf16 autocast (NPTRAIN_NATIVE_BF16=1)"
    assert choose_precision(False, cpu).dtype is None
    assert native_bf16({"avx2"}) is None  # flags given: the override does not apply
    monkeypatch.setenv("NPTRAIN_NATIVE_BF16", "0")
    assert native_bf16() is None
    assert choose_precision("auto", cpu).describe == "float32: this CPU has no native bf16"
    assert "emulated" in choose_precision(True, cpu).describe
    monkeypatch.setenv("NPTRAIN_NATIVE_BF16", "maybe")
    with pytest.raises(UserError, match=r"NPTRAIN_NATIVE_BF16='maybe': expected 1 .* or 0"):
        choose_precision("auto", cpu)


def _one_step(model: torch.nn.Module, criterion, images, targets, fmt: torch.memory_format):
    model = model.to(memory_format=fmt).train()
    torch.manual_seed(1)  # the same dropout / drop-path draws in both formats
    loss = criterion(model(images.contiguous(memory_format=fmt)), targets)
    loss.backward()
    return float(loss.detach()), {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


# one preset of each family that declares channels_last (the smallest); the test below holds the list complete
NHWC_SAMPLES = [("resnet18", "classification"), ("mobilevit_xxs", "classification"),
                ("efficientformer_l1", "classification"), ("mobilenet_v3_small", "classification"),
                ("mobilenetv4_conv_small", "classification"), ("mixnet_s", "classification")]


def _family(record) -> str:
    arch = record.architecture
    return (arch.get("full") or arch.get("backbone"))["name"]


def test_every_channels_last_family_is_checked():
    from nptrain.plugin_manager import default_plugins

    reg = default_plugins().registry
    declared = {_family(reg.preset(*k[1]).record) for k in reg._entries
                if k[0] == "preset" and reg.preset(*k[1]).record.memory_format == "channels_last"}
    sampled = {_family(reg.preset(*s).record) for s in NHWC_SAMPLES if reg.preset(*s) is not None}
    assert declared <= sampled, declared - sampled


@pytest.mark.parametrize("preset,task", NHWC_SAMPLES)
def test_channels_last_preset_step_equals_contiguous(preset, task, tmp_path):
    """Every preset that trains in channels_last by default: the same loss and gradients as contiguous."""
    import copy

    from nptrain.modeling.builder import build_loss, build_model
    from nptrain.plugin_manager import default_plugins

    if default_plugins().registry.preset(preset, task) is None:
        pytest.skip(f"the plugin providing {preset} is not installed")
    cfg = tmp_path / "m.yaml"
    cfg.write_text(f"model: {{name: {preset}, task: {task}}}\n")
    loaded = load_config([str(cfg)], [], check_files=False)
    torch.manual_seed(0)
    model, criterion = build_model(loaded.resolved, 3, name=preset), build_loss(loaded.resolved)
    side = 64
    images = torch.randn(2, 3, side, side)
    targets = {"labels": torch.tensor([0, 2])} if task == "classification" else \
        {"masks": torch.randint(0, 3, (2, side, side))}
    # in float64: a layout mistake shows at full size, while float32 rounding, which deep mobile nets with
    # BatchNorm over a 2-image 64-pixel batch amplify to a few 1e-3 (mobilenetv4), stays far below the bound
    model, images = model.double(), images.double()
    loss_a, grads_a = _one_step(copy.deepcopy(model), criterion, images, targets, torch.contiguous_format)
    loss_b, grads_b = _one_step(model, criterion, images, targets, torch.channels_last)
    assert loss_b == pytest.approx(loss_a, rel=1e-10, abs=1e-12)
    assert grads_a.keys() == grads_b.keys()
    # relative to each tensor's own scale, but not below the model's: a conv bias in front of a BatchNorm
    # has a gradient that is zero up to rounding
    overall = max(float(g.abs().max()) for g in grads_a.values())
    for name, g in grads_a.items():
        scale = max(float(g.abs().max()), 1e-3 * overall)
        assert float((grads_b[name] - g).abs().max()) <= 1e-8 * scale, name


def test_channels_last_run_equals_contiguous_run(small_config, tmp_path):
    """One epoch of the small digits run in each format: same metrics, weights equal to float tolerance."""
    from safetensors.torch import load_file

    runs, heads = {}, {}
    for name, flag in (("nchw", "false"), ("nhwc", "true")):
        logs: list[str] = []
        loaded = load_config(small_config(f"environment: {{channels_last: {flag}}}\n"
                                          "training: {epochs: 1, mixed_precision: false}\n",
                                          name=name), [])
        runs[name] = run_training(loaded, name=name, log=logs.append)
        heads[name] = logs[0]
    assert "channels_last (environment.channels_last)" in heads["nhwc"]
    assert "contiguous (environment.channels_last)" in heads["nchw"]
    a = load_file(str(runs["nchw"] / "weights" / "last.safetensors"))
    b = load_file(str(runs["nhwc"] / "weights" / "last.safetensors"))
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-3, rtol=1e-3), key
    assert _best(runs["nhwc"]) == pytest.approx(_best(runs["nchw"]), abs=0.01)


def test_memory_format_follows_preset_unless_config_says(small_config):
    from types import SimpleNamespace

    import attrs

    from nptrain.plugin_manager import default_plugins
    from nptrain.training.memory_format import choose_memory_format

    prov = default_plugins().registry.preset("simple_cnn", "classification")
    loaded = load_config(small_config("model: {architecture: null}\n"), [])
    fmt, why = choose_memory_format(loaded)
    assert fmt == torch.contiguous_format and why == f"{prov.record.memory_format} (preset simple_cnn's choice)"
    # a plugin whose preset declares channels_last
    nhwc = SimpleNamespace(record=attrs.evolve(prov.record, memory_format="channels_last"))
    plugins = SimpleNamespace(registry=SimpleNamespace(preset=lambda name, task: nhwc))
    fmt, why = choose_memory_format(loaded, plugins)
    assert fmt == torch.channels_last and why == "channels_last (preset simple_cnn's choice)"
    # the config's own setting wins; a model the user describes is not the preset's
    explicit = load_config(small_config("model: {architecture: null}\nenvironment: {channels_last: false}\n"), [])
    assert choose_memory_format(explicit, plugins)[0] == torch.contiguous_format
    # a run whose model is not what the preset describes does not take the preset's choice
    other = SimpleNamespace(record=attrs.evolve(nhwc.record, architecture={"backbone": {"name": "resnet"},
                                                                          "head": {"name": "fc"}}))
    elsewhere = SimpleNamespace(registry=SimpleNamespace(preset=lambda name, task: other))
    assert choose_memory_format(loaded, elsewhere) == (torch.contiguous_format, "contiguous")


def test_thread_choice(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert choose_threads(3) == ThreadChoice(3, "environment.threads")
    assert choose_threads("auto", cores=4) == ThreadChoice(4, "auto: 4 physical cores")
    assert choose_threads("auto", cores=8, ranks_here=2) == ThreadChoice(4, "auto: 8 physical cores / 2 ranks")
    assert choose_threads("auto", cores=1, ranks_here=2).threads == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert choose_threads("auto", cores=8) == ThreadChoice(1, "auto: OMP_NUM_THREADS")
    assert physical_cores([0]) == 1


def test_spin_env_is_set_before_torch_and_user_values_win():
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    assert set_spin_env(env) == [] and env["OMP_WAIT_POLICY"] == "ACTIVE"
    env = {}
    assert set_spin_env(env) == ["OMP_WAIT_POLICY"] and env["OMP_WAIT_POLICY"] == "PASSIVE"
    # nptrain run sets it in run() before anything imports torch (OpenMP reads it once, at load)
    code = ("import sys, nptrain.cli.main, nptrain.cli.cmd_run as r; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_spin_env_note_only_for_spinning_threads():
    note = spin_env_note(2, {})
    assert note.startswith("note: torch was imported before nptrain could set OMP_WAIT_POLICY, so this run's 2 threads")
    assert "set OMP_WAIT_POLICY=PASSIVE in the environment before importing torch" in note
    assert spin_env_note(1, {}) is None  # one thread: nothing waits for another
    assert spin_env_note(2, {"OMP_WAIT_POLICY": "ACTIVE"}) is None  # the user chose


def test_python_api_sets_the_wait_policy_unless_torch_came_first():
    """nptrain.train sets OMP_WAIT_POLICY as nptrain run does when torch is not loaded yet, and cannot once
    it is (OpenMP read it at load): then it leaves it unset, which the speed note below reports."""
    code = ("import os, sys, nptrain\n"
            "def attempt():\n"
            "    try:\n"
            "        nptrain.train('no-such-config.yaml')\n"
            "    except nptrain.UserError:\n"
            "        pass\n"
            "    return os.environ.pop('OMP_WAIT_POLICY', None)\n"
            "os.environ.pop('OMP_WAIT_POLICY', None)\n"
            "first = attempt()\n"
            "import torch\n"
            "print(first, attempt())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["PASSIVE", "None"]


def test_train_notes_spinning_threads_after_the_speed_header(small_config, monkeypatch):
    """torch imported first (as here) with OMP_WAIT_POLICY unset: a run on 2 threads says how to avoid spinning."""
    import nptrain
    import nptrain.training.speed as speed

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    # the run keeps this process's thread count: in a test process whose OpenMP may spin, two threads on a
    # busy machine would make it slow (test_threads_setting_applied_to_run_and_workers checks they are applied)
    applied: list[int] = []
    monkeypatch.setattr(speed, "apply_threads", lambda choice: applied.append(choice.threads))
    old = torch.get_num_threads()
    logs: list[str] = []
    nptrain.train(small_config("environment: {threads: 2}\ntraining: {epochs: 1}\n", name="spin"), log=logs.append)
    assert applied == [2] and torch.get_num_threads() == old
    header = next(i for i, line in enumerate(logs) if line.startswith("speed: "))
    assert logs[header].endswith("2 threads (environment.threads)")
    assert logs[header + 1] == spin_env_note(2, {})
    assert "OMP_WAIT_POLICY" not in os.environ  # train() did not set it: torch was loaded already
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")  # set before torch loaded (the user's choice): no note
    logs.clear()
    configure_speed(load_config(small_config("environment: {threads: 2}\n"), []), torch.device("cpu"), log=logs.append)
    assert len(logs) == 1 and logs[0].startswith("speed: ")


def test_threads_setting_applied_to_run_and_workers(small_config, monkeypatch):
    """environment.threads reaches torch in the training process; each loader worker computes on 1 thread."""
    from nptrain.data.loader import make_loader

    old = torch.get_num_threads()
    try:
        loaded = load_config(small_config("environment: {threads: 1}\n"), [])
        logs: list[str] = []
        Trainer(loaded, name="t1", log=logs.append)
        assert torch.get_num_threads() == 1 and "1 thread (environment.threads)" in logs[0]
    finally:
        torch.set_num_threads(old)

    class Probe(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return 2

        def __getitem__(self, item):
            return torch.zeros(1), {"threads": torch.tensor(torch.get_num_threads())}

    loader = make_loader(Probe(), batch_size=1, shuffle=False, seed=0, num_workers=1)
    assert [int(t["threads"]) for _, t in loader] == [1, 1]


def test_contention_note_once_when_steps_slow_under_load(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    watch = ContentionWatch()
    for s in (9.0, 0.1, 0.11, 0.1):  # the first step of an epoch is not counted
        watch.step(s, first_of_epoch=s == 9.0)
    assert watch.note(1, foreign_cpu_frac=0.6, threads=2) is None  # at its own speed
    for s in (0.5, 0.4, 0.45):
        watch.step(s, first_of_epoch=False)
    assert watch.note(2, foreign_cpu_frac=0.1, threads=2) is None  # slow, but not from other processes
    for s in (0.5, 0.4, 0.45):
        watch.step(s, first_of_epoch=False)
    note = watch.note(3, foreign_cpu_frac=0.6, threads=2)
    assert note.startswith("note: epoch 3 steps ran 4.5x slower") and "60% of the CPU" in note
    assert note.endswith("this run's img/s figures say little about this machine")
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    watch.said = False
    for s in (0.5, 0.4, 0.45):
        watch.step(s, first_of_epoch=False)
    assert watch.note(4, foreign_cpu_frac=0.6, threads=2).endswith("spinning threads collapse under load")
    for s in (0.5, 0.4, 0.45):
        watch.step(s, first_of_epoch=False)
    assert watch.note(5, foreign_cpu_frac=0.6, threads=2) is None  # said once per run


@pytest.mark.slow
def test_compile_run_equals_eager_run(small_config, monkeypatch):
    """environment.compile: the training steps go through torch.compile and end where eager ones do.

    The compiler backend is dynamo's ``aot_eager`` here (graph capture and autograd tracing without the C++
    code generation, which costs minutes of CPU per model); bench/bench_step.py's ``compile`` variant times
    the default inductor backend."""
    from safetensors.torch import load_file

    real_compile, calls = torch.compile, []

    def tracing_compile(module, **kwargs):
        calls.append(type(module).__name__)
        return real_compile(module, backend="aot_eager")

    monkeypatch.setattr(torch, "compile", tracing_compile)
    runs, heads = {}, {}
    for name, flag in (("eager", "false"), ("compiled", "true")):
        logs: list[str] = []
        loaded = load_config(small_config(f"environment: {{compile: {flag}}}\n"
                                          "training: {epochs: 1, mixed_precision: false}\n", name=name), [])
        runs[name] = run_training(loaded, name=name, log=logs.append)
        heads[name] = logs[0]
    assert len(calls) == 1 and "torch.compile" in heads["compiled"] and "torch.compile" not in heads["eager"]
    a = load_file(str(runs["eager"] / "weights" / "last.safetensors"))
    b = load_file(str(runs["compiled"] / "weights" / "last.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-4, rtol=1e-4), key
