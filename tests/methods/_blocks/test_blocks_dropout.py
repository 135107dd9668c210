"""The shared dropout (``_blocks/dropout.py``) and the CPU attention path that uses it."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from mmerbench_methods._blocks import attention as attention_module
from mmerbench_methods._blocks import dropout as dropout_module
from mmerbench_methods._blocks.attention import dot_product_attention
from mmerbench_methods._blocks.dropout import Dropout, dropout


def test_expected_value_and_keep_rate():
    torch.manual_seed(0)
    x = torch.full((400_000,), 2.0)
    y = dropout(x, 0.3)
    kept = (y != 0).float().mean().item()
    # 400k Bernoulli(0.7) draws: std of the rate 7e-4, of the mean 0.0031 (in units of x); 5 sigma either side
    assert abs(kept - 0.7) < 0.004
    assert abs(y.mean().item() - 2.0) < 0.016
    assert torch.allclose(y[y != 0], torch.tensor(2.0 / 0.7))  # kept elements scaled by exactly 1 / (1 - p)


def test_backward_uses_the_forward_mask():
    torch.manual_seed(1)
    x = (torch.rand(64, 50, 32) + 0.5).requires_grad_(True)  # no zeros: a zero output means dropped
    y = dropout(x, 0.4)
    upstream = torch.randn_like(y)
    y.backward(upstream)
    kept = y.detach() != 0
    assert 0.5 < kept.float().mean().item() < 0.7
    assert torch.equal(x.grad, torch.where(kept, upstream * (1.0 / 0.6), torch.zeros_like(upstream)))


def test_gradient_matches_finite_differences():
    x = torch.randn(5, 7, dtype=torch.float64, requires_grad=True)

    def seeded(t):  # gradcheck calls the function many times: the same mask each time
        torch.manual_seed(3)
        return dropout(t, 0.35)

    with torch.random.fork_rng():
        assert torch.autograd.gradcheck(seeded, (x,))
        assert torch.autograd.gradgradcheck(seeded, (x,))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_float_mask_gives_the_boolean_masks_numbers_bit_for_bit(dtype, p):
    """The float mask (scale where kept, 0 where dropped) against the plain formula: the same uniform
    draw compared with p, x * keep, then * 1 / (1 - p); forward and backward, signed zeros, infinities
    and NaN included."""
    special = torch.tensor([0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1e-45, -3e38], dtype=dtype)
    x = torch.cat([torch.randn(20_000, dtype=dtype) * 10, special]).requires_grad_(True)
    upstream = torch.cat([torch.randn(20_000, dtype=dtype), special.flip(0)])
    torch.manual_seed(11)
    y = dropout(x, p)
    (grad,) = torch.autograd.grad(y, x, upstream)
    torch.manual_seed(11)
    keep = torch.rand(x.shape, dtype=dtype) >= p
    scale = 1.0 / (1.0 - p)
    expected_y = x.detach().mul(keep).mul_(scale)
    expected_grad = upstream.mul(keep).mul_(scale)
    for ours, plain in ((y.detach(), expected_y), (grad, expected_grad)):
        assert torch.equal(ours.view(torch.int32 if dtype == torch.float32 else torch.int64),
                           plain.view(torch.int32 if dtype == torch.float32 else torch.int64))


def test_a_uniform_exactly_at_p_is_kept_as_before(monkeypatch):
    """keep = (u >= p): a draw equal to p (as the tensor's dtype holds it) is kept, one just below dropped."""
    p = 0.3
    at_p = torch.tensor(p, dtype=torch.float32)
    draws = torch.stack([at_p, torch.nextafter(at_p, torch.tensor(0.0)), torch.nextafter(at_p, torch.tensor(1.0))])
    monkeypatch.setattr(dropout_module, "_uniform", lambda shape, dtype, device: draws.clone().to(dtype))
    y = dropout(torch.ones(3), p)
    assert torch.equal(y != 0, torch.tensor([True, False, True]))


def test_eval_mode_and_p_zero_are_the_identity():
    x = torch.randn(4, 3, requires_grad=True)
    layer = Dropout(0.5).eval()
    assert layer(x) is x
    assert dropout(x, 0.5, training=False) is x
    assert dropout(x, 0.0) is x
    assert Dropout(0.0).train()(x) is x


def test_p_one_drops_everything():
    x = torch.randn(6, 5, requires_grad=True)
    y = dropout(x, 1.0)
    assert torch.equal(y, torch.zeros_like(x))
    y.sum().backward()
    assert torch.equal(x.grad, torch.zeros_like(x))


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_probability_outside_0_1_is_refused(p):
    with pytest.raises(ValueError, match="between 0 and 1"):
        dropout(torch.ones(3), p)
    with pytest.raises(ValueError, match="between 0 and 1"):
        Dropout(p)


def test_seeded_masks_repeat_and_the_module_is_an_nn_dropout():
    x = torch.ones(1000)
    torch.manual_seed(5)
    first = Dropout(0.2)(x)
    torch.manual_seed(5)
    assert torch.equal(first, Dropout(0.2)(x))
    assert isinstance(Dropout(0.2), nn.Dropout) and Dropout(0.2).p == 0.2


@pytest.mark.parametrize("p", [0.3, 0.99])
def test_reduced_precision_keeps_its_dtype_and_the_keep_rate(p):
    torch.manual_seed(6)
    n = 400_000
    y = dropout(torch.ones(n, dtype=torch.bfloat16), p)
    assert y.dtype == torch.bfloat16
    # Drawn in float32: uniforms drawn in bfloat16 sit on a coarse grid and keep 0.78% at p = 0.99, not 1%.
    assert abs((y != 0).float().mean().item() - (1 - p)) < 5 * ((p * (1 - p) / n) ** 0.5)


def test_activation_checkpointing_replays_the_same_mask():
    layer = nn.Sequential(nn.Linear(8, 8), Dropout(0.5), nn.Linear(8, 1))
    x = torch.randn(32, 8)
    torch.manual_seed(7)
    plain = layer(x).sum()
    plain_grads = torch.autograd.grad(plain, list(layer.parameters()))
    torch.manual_seed(7)
    recomputed = checkpoint(layer, x, use_reentrant=False).sum()
    grads = torch.autograd.grad(recomputed, list(layer.parameters()))
    assert torch.equal(plain, recomputed)
    assert all(torch.equal(a, b) for a, b in zip(plain_grads, grads))


# ---------------------------------------------------------------- attention on the CPU with dropout

def _qkv(steps_q=5, steps_k=7):
    torch.manual_seed(8)
    return (torch.randn(2, 3, steps_q, 4, dtype=torch.float64), torch.randn(2, 3, steps_k, 4, dtype=torch.float64),
            torch.randn(2, 3, steps_k, 6, dtype=torch.float64))


@pytest.mark.parametrize("case", ["none", "bool", "additive", "causal", "scale"])
def test_cpu_dropout_path_is_scaled_dot_product_attention_without_the_mask(case, monkeypatch):
    """With the dropout replaced by the identity, the written-out path equals PyTorch's, in float64."""
    query, key, value = _qkv(5, 5 if case == "causal" else 7)
    keep = torch.rand(2, 1, 1, key.shape[2]) > 0.3
    keep[..., 0] = True
    kwargs = {"none": {}, "bool": {"attn_mask": keep}, "additive": {"attn_mask": torch.randn(1, 3, 5, 7).double()},
              "causal": {"is_causal": True}, "scale": {"scale": 0.123}}[case]
    monkeypatch.setattr(attention_module, "dropout", lambda x, p, **options: x)
    ours = dot_product_attention(query, key, value, dropout_p=0.4, **kwargs)
    theirs = F.scaled_dot_product_attention(query, key, value, **kwargs)
    assert torch.allclose(ours, theirs, atol=1e-12)


def test_cpu_dropout_path_drops_attention_weights_with_the_shared_dropout():
    query, key, value = _qkv()
    calls = []

    def recording(x, p, **options):
        calls.append((tuple(x.shape), p, options))
        return dropout(x, p, **options)

    torch.manual_seed(9)
    out = attention_module.dot_product_attention(query, key, value, dropout_p=0.5)
    assert not torch.allclose(out, F.scaled_dot_product_attention(query, key, value))
    original = attention_module.dropout
    attention_module.dropout = recording
    try:
        attention_module.dot_product_attention(query, key, value, dropout_p=0.5)
    finally:
        attention_module.dropout = original
    # the (B, heads, Tq, Tk) probabilities, once, with the 1-byte mask (the map is kept for backward),
    # from torch's generator unless the caller asks for another source
    assert calls == [((2, 3, 5, 7), 0.5, {"compact_mask": True, "mask_source": "torch"})]


def _saved_dtypes(function):
    dtypes = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: dtypes.append(t.dtype) or t, lambda t: t):
        function()
    return dtypes


def test_compact_mask_keeps_one_byte_per_element_and_the_same_numbers():
    x = torch.randn(40, 30, requires_grad=True)
    upstream = torch.randn(40, 30)
    results = {}
    for compact in (False, True):
        torch.manual_seed(16)
        holder = {}
        dtypes = _saved_dtypes(lambda: holder.setdefault("y", dropout(x, 0.3, compact_mask=compact)))
        assert dtypes == ([torch.bool] if compact else [torch.float32])
        results[compact] = (holder["y"].detach(), torch.autograd.grad(holder["y"], x, upstream)[0])
    assert torch.equal(results[False][0], results[True][0]) and torch.equal(results[False][1], results[True][1])
