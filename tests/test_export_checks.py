"""ONNX parity checks cannot be passed by NaN/inf: non-finite outputs must coincide and are reported."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from nptrain.errors import UserError
from nptrain.export_tools import compare_outputs, describe_check, export_onnx_checked


def test_compare_outputs_counts_non_finite_and_compares_the_rest():
    expected = torch.tensor([1.0, float("nan"), float("inf"), -2.0])
    res = compare_outputs(expected, torch.tensor([1.5, float("nan"), float("inf"), -2.0]))
    assert res == {"max_abs_diff": 0.5, "scale": 2.0, "non_finite": 2, "outputs": 4}
    with pytest.raises(UserError, match="NaN/inf where the reference outputs are finite"):
        compare_outputs(expected, torch.tensor([1.0, 0.0, float("inf"), -2.0]))
    all_nan = torch.full((3,), float("nan"))
    assert compare_outputs(all_nan, all_nan.clone())["max_abs_diff"] == 0.0


class LogRelu(nn.Module):
    def forward(self, x):
        return torch.log(torch.relu(x))  # -inf wherever x <= 0


def test_export_reports_non_finite_outputs(tmp_path):
    x = torch.tensor([[[[1.0, -1.0], [2.0, 0.0]]]])
    res = export_onnx_checked(LogRelu(), x, tmp_path / "m.onnx", opset=17, dynamic_batch=False)
    assert res["non_finite"] == 2 and res["outputs"] == 4 and res["max_abs_diff"] < 1e-6
    assert describe_check(res).endswith("warning: 2 of 4 outputs are NaN/inf in PyTorch too (diverged or broken weights?)")
    assert "warning" not in describe_check({**res, "non_finite": 0})
