"""Label-wise attention: padding never matters, missing modalities give zeros, any length works."""

from __future__ import annotations

import torch

from mmerbench_methods._blocks.label_attention import LabelWiseAttention, PooledLabelProjection


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
    context, weights = attention(labels, frames, mask)
    garbage = frames.clone()
    garbage[~mask] = 1e4  # wildly different values at padded steps (finite, so 0-weight is exact)
    garbage_context, garbage_weights = attention(labels, garbage, mask)
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
    context, weights = attention(shared, frames, mask)
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
