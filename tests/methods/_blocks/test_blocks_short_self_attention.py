"""Self-attention as batched products (``_blocks/short_self_attention.py``) and ``MultiheadAttention(fused_qkv=True)``."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mmerbench_methods._blocks import attention as attention_module
from mmerbench_methods._blocks import short_self_attention as short
from mmerbench_methods._blocks.attention import MultiheadAttention, key_padding_fallback


def _reference(packed: torch.Tensor, heads: int, attendable: torch.Tensor | None) -> torch.Tensor:
    batch, steps, width3 = packed.shape
    q, k, v = packed.view(batch, steps, 3, heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
    mask = None if attendable is None else attendable[:, None, None, :]
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2).reshape(batch, steps, width3 // 3)


def _padded_mask() -> torch.Tensor:
    mask = torch.ones(4, 6, dtype=torch.bool)
    mask[1, 4:] = False
    mask[2] = False  # a missing modality: no valid key at all
    return key_padding_fallback(mask)[0]


@pytest.mark.parametrize("padded", [False, True])
def test_matches_scaled_dot_product_attention_in_value_and_gradient(padded):
    torch.manual_seed(0)
    packed = torch.randn(4, 6, 3 * 2 * 5, dtype=torch.float64, requires_grad=True)
    attendable = _padded_mask() if padded else None
    upstream = torch.randn(4, 6, 10, dtype=torch.float64)
    ours = short.short_self_attention(packed, 2, attendable)
    (ours_grad,) = torch.autograd.grad(ours, packed, upstream)
    theirs = _reference(packed, 2, attendable)
    (theirs_grad,) = torch.autograd.grad(theirs, packed, upstream)
    assert torch.allclose(ours, theirs, atol=1e-12) and torch.allclose(ours_grad, theirs_grad, atol=1e-12)


def test_gradient_matches_finite_differences():
    packed = torch.randn(2, 5, 3 * 2 * 3, dtype=torch.float64, requires_grad=True)
    attendable = torch.tensor([[True] * 5, [True, True, True, False, False]])
    assert torch.autograd.gradcheck(lambda x: short.short_self_attention(x, 2, attendable), (packed,))


def test_applies_on_the_cpu_without_dropout_to_small_float_maps_only():
    cpu = torch.device("cpu")
    assert short.applies(64, 8, 50, torch.float32, cpu, 0.0)  # LDDU's released sizes: a 5 MB map
    assert not short.applies(64, 8, 50, torch.float32, cpu, 0.1)  # dropout on the probabilities
    assert not short.applies(64, 8, 50, torch.bfloat16, cpu, 0.0)
    assert not short.applies(64, 8, 50, torch.float32, torch.device("meta"), 0.0)  # accelerators keep their kernels
    assert not short.applies(128, 8, 500, torch.float32, cpu, 0.0)  # 500-frame unaligned batches: 1 GB
    assert short.applies(4, 2, 8, torch.float32, cpu, 0.0, map_bytes=4 * 2 * 8 * 8 * 4)
    assert not short.applies(4, 2, 8, torch.float64, cpu, 0.0, map_bytes=4 * 2 * 8 * 8 * 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not short.applies(64, 8, 50, torch.float32, cpu, 0.0)


def _record_short_calls(monkeypatch) -> list:
    calls = []
    real = short.short_self_attention

    def recording(packed, heads, key_mask):
        calls.append(tuple(packed.shape))
        return real(packed, heads, key_mask)

    monkeypatch.setattr(short, "short_self_attention", recording)
    return calls


@pytest.mark.parametrize("path", ["short", "fused kernel"])
@pytest.mark.parametrize("padded", [False, True])
def test_fused_qkv_is_the_same_attention(path, padded, monkeypatch):
    """One packed projection (and the batched products where they apply) against the three separate
    projections and the fused kernel: the same parameters give the same outputs and gradients."""
    calls = _record_short_calls(monkeypatch)
    if path == "fused kernel":
        monkeypatch.setattr(short, "DEFAULT_MAP_BYTES", 0)  # nothing is small enough
    torch.manual_seed(1)
    plain = MultiheadAttention(12, 3).double()
    fused = MultiheadAttention(12, 3, fused_qkv=True).double()
    fused.load_state_dict(plain.state_dict())
    x = torch.randn(4, 6, 12, dtype=torch.float64)
    mask = torch.ones(4, 6, dtype=torch.bool)
    if padded:
        mask[1, 4:] = False
        mask[2] = False
    results = []
    for module in (plain, fused):
        inputs = x.clone().requires_grad_(True)
        out = module(inputs, inputs, inputs, mask)
        upstream = torch.randn(out.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
        results.append((out, torch.autograd.grad(out, [inputs, *module.parameters()], upstream)))
    (out_a, grads_a), (out_b, grads_b) = results
    assert torch.allclose(out_a, out_b, atol=1e-12)
    assert all(torch.allclose(a, b, atol=1e-11) for a, b in zip(grads_a, grads_b))
    assert calls == ([(4, 6, 36)] if path == "short" else [])


def test_only_fused_self_attention_takes_the_packed_path(monkeypatch):
    """Without ``fused_qkv`` (every method but those that opt in) and for cross-attention, the three
    projections and the fused kernel as before."""
    calls = _record_short_calls(monkeypatch)
    packed_projections = []
    monkeypatch.setattr(MultiheadAttention, "_packed_attention",
                        lambda self, *a: packed_projections.append(1) or (_ for _ in ()).throw(AssertionError))
    x, source, mask = torch.randn(2, 5, 8), torch.randn(2, 7, 8), torch.ones(2, 7, dtype=torch.bool)
    MultiheadAttention(8, 2)(x, x, x, mask[:, :5])
    MultiheadAttention(8, 2, fused_qkv=True)(x, source, source, mask)  # queries from another sequence
    assert calls == [] and packed_projections == []


def test_probability_dropout_keeps_the_dropout_path(monkeypatch):
    calls = _record_short_calls(monkeypatch)
    seen = []
    real = attention_module.masked_attention

    def recording(query, key, value, key_mask, dropout_p=0.0, *args):
        seen.append(dropout_p)
        return real(query, key, value, key_mask, dropout_p, *args)

    monkeypatch.setattr(attention_module, "masked_attention", recording)
    module = MultiheadAttention(8, 2, dropout=0.3, fused_qkv=True).train()
    x = torch.randn(2, 5, 8)
    module(x, x, x, torch.ones(2, 5, dtype=torch.bool))
    assert calls == [] and seen == [0.3]
    module.eval()(x, x, x, torch.ones(2, 5, dtype=torch.bool))  # no dropout outside training: batched products
    assert calls == [(2, 5, 24)]
