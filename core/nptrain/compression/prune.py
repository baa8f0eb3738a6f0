"""Structured channel pruning with torch-pruning, keeping the model's output layers and attention
heads whole (head count and head dim stay, so reshapes in attention keep working)."""
from __future__ import annotations

import contextlib
import warnings
from typing import Iterator, Literal, Optional

import attrs
import torch
import torch.fx
from torch import nn

from nptrain.errors import UserError
from nptrain.layers import ChannelSum, literal_forward

Method = Literal["l1", "l2", "bn_scale", "taylor"]
_PASSTHROUGH = {"getitem", "getattr", "add", "mul", "cat", "interpolate", "reshape", "view", "flatten",
                "permute", "transpose", "contiguous", "squeeze", "unsqueeze", "mean", "sigmoid", "softmax"}


@attrs.define
class PruneReport:
    params_before: int
    params_after: int
    method: str
    ratio: float
    round_to: Optional[int]
    ignored: list[str]

    @property
    def kept_fraction(self) -> float:
        return self.params_after / max(self.params_before, 1)


def output_layers(model: nn.Module) -> list[str]:
    """Names of the conv/linear layers whose outputs reach the model output without another
    parameterised layer in between (their channels are the classes: never pruned). Both modes are
    traced, so training-only heads (e.g. PIDNet's auxiliary heads) keep their outputs too."""
    was_training = model.training
    names: set[str] = set()
    try:
        for mode in (False, True):
            model.train(mode)
            names |= _output_layers_of(torch.fx.symbolic_trace(model).graph, dict(model.named_modules()))
    finally:
        model.train(was_training)
    return sorted(names)


def _output_layers_of(graph: torch.fx.Graph, modules: dict[str, nn.Module]) -> set[str]:
    out, seen = set(), set()
    stack = [n for n in graph.nodes if n.op == "output"]
    while stack:
        node = stack.pop()
        for arg in node.all_input_nodes:
            if arg in seen:
                continue
            seen.add(arg)
            if arg.op == "call_module" and isinstance(modules.get(arg.target), (nn.Conv2d, nn.Linear, nn.Conv1d)):
                out.add(str(arg.target))
            elif arg.op in ("call_function", "call_method", "call_module", "output"):
                stack.append(arg)
    return out


def _has_training_outputs(model: nn.Module, example: torch.Tensor) -> bool:
    """True when training mode returns extra outputs (a dict of auxiliary predictions): the
    dependency graph must then be traced in training mode so those branches are pruned consistently."""
    state = {k: v.clone() for k, v in model.state_dict().items()}
    try:
        with torch.no_grad():
            return isinstance(model.train()(example), dict)
    finally:
        model.load_state_dict(state)  # training-mode BatchNorm must not move the running statistics
        model.eval()


def attention_layers(model: nn.Module) -> list[nn.Module]:
    """Linear/conv layers kept whole: those of modules that declare ``num_heads`` (so heads stay intact), and
    those under the children a module names in ``prune_keep_whole`` (e.g. a conv whose output is split in halves
    that are both concatenated again, which the pruning library cannot map)."""
    keep = []
    layers = (nn.Linear, nn.Conv2d, nn.Conv1d)
    for module in model.modules():
        if isinstance(getattr(module, "num_heads", None), int):
            keep += [m for m in module.modules() if isinstance(m, layers)]
        for name in getattr(module, "prune_keep_whole", ()):
            keep += [m for m in getattr(module, name).modules() if isinstance(m, layers)]
    return keep


def _channel_sum_pruner():
    """ChannelSum has no weights: its input channels follow the producer, its one output channel
    never changes, and there is no link between the two (unlike an element-wise op)."""
    import torch_pruning as tp

    class ChannelSumPruner(tp.pruner.function.BasePruningFunc):
        TARGET_MODULES = (ChannelSum,)

        def prune_out_channels(self, layer, idxs):
            return layer

        def prune_in_channels(self, layer, idxs):
            return layer

        def get_out_channels(self, layer):
            return 1

        def get_in_channels(self, layer):
            return None

    return ChannelSumPruner()


def declared_pruning_dims(model: nn.Module) -> dict[nn.Parameter, int]:
    """Bare parameters (not a layer's weight or bias) with the axis pruning may cut, from each module's
    ``pruning_dims = {"name": dim}``; torch-pruning would otherwise guess the last non-singleton axis."""
    out: dict[nn.Parameter, int] = {}
    for name, module in model.named_modules():
        for attr, dim in getattr(module, "pruning_dims", {}).items():
            param = getattr(module, attr, None)
            if not isinstance(param, nn.Parameter):
                raise UserError(f"{name or type(model).__name__}.pruning_dims names {attr!r}, which is not a parameter")
            out[param] = dim
    return out


def _importance(method: str):
    import torch_pruning as tp

    if method == "l1":
        return tp.importance.MagnitudeImportance(p=1)
    if method == "l2":
        return tp.importance.MagnitudeImportance(p=2)
    if method == "bn_scale":
        return tp.importance.BNScaleImportance()
    if method == "taylor":
        return tp.importance.TaylorImportance()
    raise UserError(f"unknown pruning method {method!r}; choose l1, l2, bn_scale or taylor")


def prune_refusal(model: nn.Module) -> Optional[str]:
    """Why ``model`` cannot be pruned, when a module of it says so with a ``prune_refusal`` string (e.g. a
    family whose channel splits torch-pruning maps wrongly); None otherwise."""
    for name, module in model.named_modules():
        reason = getattr(module, "prune_refusal", None)
        if isinstance(reason, str) and reason:
            return f"{name or type(model).__name__}: {reason}"
    return None


def prune(model: nn.Module, example: torch.Tensor, *, ratio: float, method: str = "l1",
          round_to: Optional[int] = 8, calibration: Optional[tuple[torch.Tensor, nn.Module, dict]] = None) -> PruneReport:
    """Prune ``model`` in place. ``calibration=(inputs, loss_fn, targets)`` feeds Taylor importance;
    without it the model's own predictions serve as targets."""
    if not 0.0 < ratio < 1.0:
        raise UserError(f"--ratio must be between 0 and 1 (the fraction of channels removed), got {ratio}")
    refusal = prune_refusal(model)
    if refusal:
        raise UserError(f"this model cannot be pruned: {refusal}")
    # torch-pruning follows module calls: a rearranged forward would hide which channels feed which layer
    with literal_forward(model):
        return _prune_literal(model, example, ratio=ratio, method=method, round_to=round_to, calibration=calibration)


@contextlib.contextmanager
def _no_depth_warning() -> Iterator[None]:
    """torch-pruning's shape inference gives up walking very deep graphs with "Maximum recursive depth reached!";
    nothing for the user to act on (the pruned model runs and is traced after: a wrong shape fails there, named)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Maximum recursive depth reached")
        yield


def _prune_literal(model: nn.Module, example: torch.Tensor, *, ratio: float, method: str, round_to: Optional[int],
                   calibration: Optional[tuple[torch.Tensor, nn.Module, dict]]) -> PruneReport:
    import torch_pruning as tp

    model.eval()
    modules = dict(model.named_modules())
    ignored_names = output_layers(model)
    ignored = [modules[n] for n in ignored_names] + attention_layers(model)
    before = sum(p.numel() for p in model.parameters())
    trace_in_training = _has_training_outputs(model, example)
    state = {k: v.clone() for k, v in model.state_dict().items()} if trace_in_training else None
    # torch-pruning puts the model in eval mode before tracing; a forward_fn switches it back
    forward_fn = (lambda m, x: m.train()(x)) if trace_in_training else None
    with _no_depth_warning():
        pruner = tp.pruner.MetaPruner(model, example, importance=_importance(method), pruning_ratio=ratio,
                                      ignored_layers=ignored, round_to=round_to, forward_fn=forward_fn,
                                      unwrapped_parameters=list(declared_pruning_dims(model).items()),
                                      customized_pruners={ChannelSum: _channel_sum_pruner()})
    if state is not None:  # undo the running-statistics update of the training-mode trace
        model.load_state_dict(state)
        model.eval()
    if method == "taylor":
        model.zero_grad()
        inputs, loss_fn, targets = calibration or (example, None, None)
        out = model(inputs)
        logits = out["pred"] if isinstance(out, dict) else out
        if loss_fn is None:
            loss = nn.functional.cross_entropy(logits, logits.detach().argmax(1))
        else:
            loss = loss_fn(out, targets)
        loss.backward()
    with _no_depth_warning():
        pruner.step()
    model.zero_grad(set_to_none=True)
    after = sum(p.numel() for p in model.parameters())
    return PruneReport(before, after, method, ratio, round_to, ignored_names)
