"""``norm_then_linear``: LayerNorm then Linear with a backward that needs no (N, out) x (out, in) product."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mmerbench_methods._blocks import norm_linear as norm_linear_module
from mmerbench_methods._blocks.encoders import ModalityEncoder
from mmerbench_methods._blocks.norm_linear import norm_then_linear


def _modules(dim_in=12, dim_out=7, dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    norm, linear = nn.LayerNorm(dim_in).to(dtype), nn.Linear(dim_in, dim_out).to(dtype)
    with torch.no_grad():  # not the trivial gamma = 1, beta = 0
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.normal_()
    return norm, linear


def test_forward_and_every_gradient_equal_the_plain_modules_in_float64():
    norm, linear = _modules()
    x = torch.randn(5, 9, 12, dtype=torch.float64)
    upstream = torch.randn(5, 9, 7, dtype=torch.float64)
    parameters = [norm.weight, norm.bias, linear.weight, linear.bias]
    ours = norm_then_linear(x, norm, linear)
    plain = linear(norm(x))
    assert torch.allclose(ours, plain, rtol=0, atol=1e-12)
    grads = torch.autograd.grad(ours, parameters, upstream)
    plain_grads = torch.autograd.grad(plain, parameters, upstream)
    for a, b in zip(grads, plain_grads):
        assert torch.allclose(a, b, rtol=0, atol=1e-11)


def test_gradcheck_on_the_parameters():
    norm, linear = _modules(dim_in=6, dim_out=4)
    x = torch.randn(3, 5, 6, dtype=torch.float64)

    def f(norm_weight, norm_bias, weight, bias):
        return norm_linear_module._NormThenLinear.apply(x, norm_weight, norm_bias, weight, bias, 1e-5)

    parameters = (norm.weight, norm.bias, linear.weight, linear.bias)
    inputs = tuple(p.detach().clone().requires_grad_(True) for p in parameters)
    assert torch.autograd.gradcheck(f, inputs)


def test_the_custom_backward_runs_and_an_input_that_needs_a_gradient_gets_autograds(monkeypatch):
    norm, linear = _modules(dtype=torch.float32)
    calls = []
    real = norm_linear_module._NormThenLinear.apply
    monkeypatch.setattr(norm_linear_module._NormThenLinear, "apply", lambda *a: calls.append(1) or real(*a))
    x = torch.randn(4, 12)
    out = norm_then_linear(x, norm, linear)
    assert calls == [1] and out.grad_fn is not None and "NormThenLinear" in type(out.grad_fn).__name__
    x_grad = x.clone().requires_grad_(True)
    out_plain = norm_then_linear(x_grad, norm, linear)
    assert calls == [1]  # autograd's ops, so that x gets its gradient
    assert torch.equal(out_plain, out)  # the same forward formula on both paths
    out_plain.sum().backward()
    assert x_grad.grad is not None and torch.isfinite(x_grad.grad).all()


def test_modules_without_affine_or_bias_are_refused():
    norm, linear = _modules()
    with pytest.raises(ValueError, match="LayerNorm over the last axis"):
        norm_then_linear(torch.randn(2, 12, dtype=torch.float64), nn.LayerNorm(12, elementwise_affine=False).double(),
                         linear)
    with pytest.raises(ValueError, match="Linear with bias"):
        norm_then_linear(torch.randn(2, 12, dtype=torch.float64), norm, nn.Linear(12, 3, bias=False).double())


def test_the_encoder_uses_it_only_when_asked(monkeypatch):
    from mmerbench_methods._blocks import encoders as encoders_module

    calls = []
    real = encoders_module.norm_then_linear
    monkeypatch.setattr(encoders_module, "norm_then_linear", lambda *a: calls.append(1) or real(*a))
    torch.manual_seed(1)
    plain = ModalityEncoder(12, 8, 1, 2, dropout=0.0).eval()
    fused = ModalityEncoder(12, 8, 1, 2, dropout=0.0, fused_input_projection=True).eval()
    fused.load_state_dict(plain.state_dict())  # the same parameters and names
    assert not plain.fused_input_projection and fused.fused_input_projection
    x, mask = torch.randn(3, 5, 12), torch.ones(3, 5, dtype=torch.bool)
    assert torch.allclose(fused(x, mask), plain(x, mask), atol=1e-5)
    assert calls == [1]  # the fused encoder's call only
    fused.train()(x, mask).sum().backward()
    assert all(p.grad is not None for p in (fused.input_norm.weight, fused.input_norm.bias, fused.project.weight))


def test_under_autocast_it_trains_in_reduced_precision_like_the_plain_modules():
    """bfloat16 autocast (the run option --precision bf16): autograd's ops, finite gradients close to the
    plain modules' under the same autocast."""
    norm, linear = _modules(dtype=torch.float32)
    x = torch.randn(6, 4, 12)
    parameters = [norm.weight, norm.bias, linear.weight, linear.bias]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours = norm_then_linear(x, norm, linear)
        plain = linear(norm(x))
    assert ours.dtype == plain.dtype == torch.bfloat16
    grads = torch.autograd.grad(ours.float().sum(), parameters)
    plain_grads = torch.autograd.grad(plain.float().sum(), parameters)
    for a, b in zip(grads, plain_grads):
        assert torch.isfinite(a).all() and torch.allclose(a, b, rtol=0.05, atol=0.05)
