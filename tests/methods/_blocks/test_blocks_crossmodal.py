"""Shared blocks of MulT / MISA / TAILOR: crossmodal attention, gradient reversal, disentangling losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmerbench_methods._blocks.attention import key_padding_fallback
from mmerbench_methods._blocks.crossmodal import CrossmodalLayer, CrossmodalTransformer
from mmerbench_methods._blocks.grad_reverse import grad_reverse
from mmerbench_methods._blocks.losses import cmd, difference_loss, sequence_orthogonality_loss


def _mask(lengths, steps):
    return torch.arange(steps)[None, :] < torch.tensor(lengths)[:, None]


# ---------------------------------------------------------------- gradient reversal

def test_grad_reverse_is_identity_forward_and_flips_the_scaled_gradient():
    x = torch.randn(4, 3, requires_grad=True)
    weights = torch.randn(4, 3)
    y = grad_reverse(x, 0.5)
    assert torch.equal(y, x)
    (y * weights).sum().backward()
    assert torch.allclose(x.grad, -0.5 * weights)


def test_gradient_reversal_zero_and_negative_scale():
    x = torch.randn(5, requires_grad=True)
    grad_reverse(x, 0.0).sum().backward()
    assert torch.count_nonzero(x.grad) == 0
    with pytest.raises(ValueError, match="scale"):
        grad_reverse(x, -1.0)


# ---------------------------------------------------------------- losses

def _cmd_numpy(a, b, moments):
    mean_a, mean_b = a.mean(0), b.mean(0)
    total = np.sqrt(((mean_a - mean_b) ** 2).sum())
    for k in range(2, moments + 1):
        total += np.sqrt(((((a - mean_a) ** k).mean(0) - ((b - mean_b) ** k).mean(0)) ** 2).sum())
    return total


def test_cmd_equals_a_direct_computation():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(7, 5)), rng.normal(1.0, 2.0, size=(9, 5))
    got = cmd(torch.tensor(a), torch.tensor(b), moments=5)
    assert float(got) == pytest.approx(_cmd_numpy(a, b, 5), rel=1e-10)
    assert float(cmd(torch.tensor(a), torch.tensor(b), moments=1)) == pytest.approx(_cmd_numpy(a, b, 1), rel=1e-10)


def test_cmd_of_identical_batches_is_zero_with_finite_gradient():
    a = torch.randn(6, 4, requires_grad=True)
    loss = cmd(a, a.detach().clone(), moments=5)
    loss.backward()
    assert float(loss.detach()) == 0.0
    assert torch.isfinite(a.grad).all()
    with pytest.raises(ValueError, match="same D"):
        cmd(torch.randn(3, 4), torch.randn(3, 5))


def test_difference_loss_equals_a_direct_computation_and_sees_correlation():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(8, 3)), rng.normal(size=(8, 4))

    def direct(x, y):
        x = x - x.mean(0)
        y = y - y.mean(0)
        x = x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-6)
        y = y / (np.linalg.norm(y, axis=1, keepdims=True) + 1e-6)
        return ((x.T @ y) ** 2).mean()

    assert float(difference_loss(torch.tensor(a), torch.tensor(b))) == pytest.approx(direct(a, b), rel=1e-9)
    # A copy of itself is maximally non-orthogonal; independent noise much less so.
    same = float(difference_loss(torch.tensor(a), torch.tensor(a)))
    assert same > 3 * float(difference_loss(torch.tensor(a), torch.tensor(rng.normal(size=(8, 3)))))


def test_sequence_orthogonality_equals_gram_norm_and_ignores_masked_steps():
    a, b = torch.randn(2, 5, 3), torch.randn(2, 5, 3)
    expected = np.mean([np.sum((a[i].numpy() @ b[i].numpy().T) ** 2) for i in range(2)])
    assert float(sequence_orthogonality_loss(a, b)) == pytest.approx(expected, rel=1e-5)
    mask = _mask([3, 5], 5)
    changed = a.clone()
    changed[0, 3:] = 100.0  # padded steps of sample 0
    assert torch.allclose(sequence_orthogonality_loss(a, b, mask), sequence_orthogonality_loss(changed, b, mask))
    orthogonal = torch.zeros(1, 2, 2)
    orthogonal[0, 0, 0] = 1.0
    other = torch.zeros(1, 2, 2)
    other[0, :, 1] = 1.0
    assert float(sequence_orthogonality_loss(orthogonal, other)) == 0.0


# ---------------------------------------------------------------- crossmodal attention

def test_key_padding_fallback_keeps_one_key_for_rows_without_any():
    attendable, has_key = key_padding_fallback(_mask([2, 0], 3))
    assert has_key.tolist() == [True, False]
    assert attendable.tolist() == [[True, True, False], [True, False, False]]


@pytest.mark.parametrize("norm_first", [True, False])
def test_crossmodal_layer_masks_both_sides(norm_first):
    torch.manual_seed(0)
    layer = CrossmodalLayer(8, 2, 16, norm_first=norm_first, self_attention=not norm_first).eval()
    query, source = torch.randn(3, 4, 8), torch.randn(3, 7, 8)
    query_mask, source_mask = _mask([4, 2, 3], 4), _mask([7, 3, 0], 7)
    out = layer(query, query_mask, source, source_mask)
    assert out.shape == (3, 4, 8)
    assert torch.isfinite(out).all()
    assert torch.count_nonzero(out[~query_mask]) == 0  # padded queries are zero
    # Values at padded source steps (and padded queries) never matter.
    noisy_source, noisy_query = source.clone(), query.clone()
    noisy_source[~source_mask] = 50.0
    noisy_query[~query_mask] = -50.0
    assert torch.allclose(out, layer(noisy_query, query_mask, noisy_source, source_mask), atol=1e-5)
    # But valid source steps do.
    changed = source.clone()
    changed[0, 0, :4] += 5.0  # not a constant shift, which the pre-LayerNorm would remove
    assert not torch.allclose(out[0], layer(query, query_mask, changed, source_mask)[0])


def test_crossmodal_layer_gives_no_attention_from_a_missing_source():
    torch.manual_seed(0)
    layer = CrossmodalLayer(8, 2, 16, norm_first=False).eval()
    query = torch.randn(1, 3, 8)
    mask = torch.ones(1, 3, dtype=torch.bool)
    missing = torch.zeros(1, 5, dtype=torch.bool)
    a = layer(query, mask, torch.randn(1, 5, 8), missing)
    b = layer(query, mask, torch.randn(1, 5, 8), missing)
    assert torch.isfinite(a).all() and torch.allclose(a, b)


def test_crossmodal_transformer_accepts_different_lengths_and_is_padding_independent():
    torch.manual_seed(0)
    block = CrossmodalTransformer(12, 3, layers=2).eval()
    query, source = torch.randn(2, 5, 12), torch.randn(2, 9, 12)
    query_mask, source_mask = _mask([5, 3], 5), _mask([9, 6], 9)
    out = block(query, query_mask, source, source_mask)
    assert out.shape == (2, 5, 12)
    # Extra right padding (a batch with a longer sample) changes nothing at valid steps.
    padded_out = block(torch.nn.functional.pad(query, (0, 0, 0, 3)), torch.nn.functional.pad(query_mask, (0, 3)),
                       torch.nn.functional.pad(source, (0, 0, 0, 4)), torch.nn.functional.pad(source_mask, (0, 4)))
    assert torch.allclose(out, padded_out[:, :5], atol=1e-5)
    # Without a source it is a self-attention Transformer: each layer attends to the
    # current queries (one layer: the same as giving the queries as source; two: not).
    single = CrossmodalTransformer(12, 3, layers=1).eval()
    assert torch.allclose(single(query, query_mask), single(query, query_mask, query, query_mask), atol=1e-6)
    assert not torch.allclose(block(query, query_mask), block(query, query_mask, query, query_mask), atol=1e-3)
    with pytest.raises(ValueError, match="source_mask"):
        block(query, query_mask, source)
