"""Label-wise attention: padding never matters, missing modalities give zeros, any length works."""

from __future__ import annotations

import torch

from mmerbench_methods._blocks.label_attention import LabelWiseAttention, MLPLabelAttention, PooledLabelProjection
from mmerbench_methods._blocks.masking import masked_softmax


def make_inputs(batch=3, steps=7, dim=5, seed=0):
    generator = torch.Generator().manual_seed(seed)
    frames = torch.randn(batch, steps, dim, generator=generator)
    lengths = torch.tensor([7, 4, 1])[:batch]
    mask = torch.arange(steps)[None, :] < lengths[:, None]
    return frames, mask


def test_changing_padded_frames_changes_nothing():
    torch.manual_seed(0)
    attention = LabelWiseAttention(label_dim=6, frame_dim=5, attention_dim=8, output_dim=4, dropout=0.0).eval()
    labels = torch.randn(4, 6)
    frames, mask = make_inputs()
    context, weights = attention(labels, frames, mask, need_weights=True)
    garbage = frames.clone()
    garbage[~mask] = 1e4  # wildly different values at padded steps (finite, so 0-weight is exact)
    garbage_context, garbage_weights = attention(labels, garbage, mask, need_weights=True)
    assert torch.equal(weights, garbage_weights)
    assert torch.allclose(context, garbage_context, atol=1e-6)
    assert context.shape == (3, 4, 4) and weights.shape == (3, 4, 7)
    assert torch.all(weights[~mask.unsqueeze(1).expand_as(weights)] == 0)
    assert torch.allclose(weights.sum(-1), torch.ones(3, 4))
    # Trimming the padding away gives the same answer as keeping it.
    trimmed_context, _ = attention(labels, frames[1:2, :4], mask[1:2, :4])
    assert torch.allclose(trimmed_context, context[1:2], atol=1e-6)


def test_attention_matches_a_direct_computation():
    torch.manual_seed(1)
    attention = LabelWiseAttention(label_dim=3, frame_dim=5, attention_dim=4, output_dim=2, dropout=0.0).eval()
    labels = torch.randn(2, 3)
    frames, mask = make_inputs()
    context, _ = attention(labels, frames, mask)
    b, valid = 1, 4
    keys = attention.frame_projection(frames[b, :valid])  # (T, d_a)
    for i in range(2):
        query = attention.label_projection(labels[i])
        weights = torch.softmax(keys @ query / 2.0, dim=0)  # sqrt(4) = 2
        expected = attention.output_projection(weights @ keys)
        assert torch.allclose(context[b, i], expected, atol=1e-6)


def test_per_sample_label_queries_and_missing_modality():
    attention = LabelWiseAttention(label_dim=6, frame_dim=5, attention_dim=8, output_dim=4, dropout=0.0).eval()
    frames, mask = make_inputs()
    mask[2] = False  # the third sample has no frame at all in this modality
    shared = torch.randn(4, 6)
    context, weights = attention(shared, frames, mask, need_weights=True)
    batched, _ = attention(shared.expand(3, 4, 6), frames, mask)
    assert torch.allclose(context, batched, atol=1e-6)
    assert torch.isfinite(context).all()
    assert torch.all(weights[2] == 0)
    expected_missing = attention.output_projection(torch.zeros(8))  # zero context, then the output layer
    assert torch.allclose(context[2], expected_missing.expand(4, 4), atol=1e-6)


def test_pooled_ablation_ignores_padding():
    pooled = PooledLabelProjection(n_labels=4, frame_dim=5, output_dim=3, dropout=0.0).eval()
    frames, mask = make_inputs()
    garbage = frames.clone()
    garbage[~mask] = 1e4
    assert torch.allclose(pooled(frames, mask), pooled(garbage, mask), atol=1e-6)
    assert pooled(frames, mask).shape == (3, 4, 3)


def materialised_attention(attention, labels, frames, mask):
    """The pre-SDPA implementation: the full (B, q, T) map, masked softmax, then a bmm."""
    queries = attention.label_projection(labels)
    keys = attention.frame_projection(frames)
    scores = torch.einsum("qa,bta->bqt", queries, keys) * attention.scale
    weights = masked_softmax(scores, mask.unsqueeze(1), dim=-1)
    values = (keys if attention.project_values else frames).masked_fill(~mask.unsqueeze(-1), 0.0)
    return attention.output_projection(torch.bmm(weights, values))


def test_fused_attention_equals_the_materialised_map_in_value_and_gradient():
    for project_values in (True, False):
        torch.manual_seed(2)
        attention = LabelWiseAttention(6, 5, 8, 4 if project_values else 5, dropout=0.0,
                                       project_values=project_values).eval()
        labels = torch.randn(4, 6)
        frames, mask = make_inputs()
        mask[2] = False  # and a missing modality
        frames = frames.requires_grad_(True)
        fused, _ = attention(labels, frames, mask)
        (fused_grad,) = torch.autograd.grad(fused.square().sum(), frames)
        direct = materialised_attention(attention, labels, frames, mask)
        (direct_grad,) = torch.autograd.grad(direct.square().sum(), frames)
        assert torch.allclose(fused, direct, atol=1e-5)
        assert torch.allclose(fused_grad, direct_grad, atol=1e-5)
        assert not torch.any(fused_grad[~mask] != 0)  # padded frames get no gradient


def test_mlp_attention_is_additive_attention_that_ignores_padding():
    torch.manual_seed(3)
    attention = MLPLabelAttention(n_labels=4, frame_dim=5, attention_dim=6, output_dim=3, dropout=0.0).eval()
    frames, mask = make_inputs()
    mask[2] = False
    out = attention(frames, mask)
    garbage = frames.clone()
    garbage[~mask] = 1e4
    assert out.shape == (3, 4, 3) and torch.allclose(out, attention(garbage, mask), atol=1e-5)
    b, valid = 1, 4
    scores = torch.tanh(attention.key_projection(frames[b, :valid])) @ attention.label_scores.T  # (T, q)
    weights = torch.softmax(scores, dim=0)
    expected = attention.output_projection(weights.T @ frames[b, :valid])
    assert torch.allclose(out[b], expected, atol=1e-5)
    assert torch.allclose(out[2], attention.output_projection.bias.expand(4, 3), atol=1e-6)  # zero context
    # Labels score frames differently: not a mean-pool in disguise.
    assert not torch.allclose(out[b, 0], out[b, 1])
