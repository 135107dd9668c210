"""The shared attention block against PyTorch's own modules, and its bounded-memory dropout path."""

import pytest
import torch
from torch import nn

from mmerbench_methods._blocks import attention as attention_module
from mmerbench_methods._blocks.attention import (MultiheadAttention, TransformerEncoder, key_padding_fallback,
                                                 masked_attention)


def _mask(lengths, steps):
    return torch.arange(steps)[None, :] < torch.tensor(lengths)[:, None]


def test_multihead_attention_matches_torch_module_at_valid_steps():
    torch.manual_seed(0)
    reference = nn.MultiheadAttention(8, 2, batch_first=True).eval()
    ours = MultiheadAttention(8, 2).eval()
    ours.load_state_dict(reference.state_dict())  # same names and shapes
    query, source = torch.randn(3, 4, 8), torch.randn(3, 6, 8)
    mask = _mask([6, 2, 1], 6)
    expected, _ = reference(query, source, source, key_padding_mask=~mask, need_weights=False)
    assert torch.allclose(ours(query, source, source, mask), expected, atol=1e-6)


def test_padded_keys_get_no_weight_and_keyless_rows_give_zeros():
    torch.manual_seed(0)
    block = MultiheadAttention(8, 2).eval()
    query, source = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
    mask = _mask([2, 0], 5)
    changed = source.clone()
    changed[0, 2:] = 100.0  # padding of sample 0
    out = block(query, source, source, mask)
    assert torch.allclose(out[0], block(query, changed, changed, mask)[0], atol=1e-6)
    assert torch.count_nonzero(out[1]) == 0
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("norm_first,activation", [(True, "relu"), (False, "gelu")])
def test_encoder_matches_torch_transformer_encoder(norm_first, activation):
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, 16, 0.1, activation=activation, batch_first=True, norm_first=norm_first)
    reference = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).eval()
    ours = TransformerEncoder(8, 2, 2, 16, 0.1, activation, norm_first).eval()
    ours.load_state_dict(reference.state_dict())
    x, mask = torch.randn(3, 5, 8), _mask([5, 3, 1], 5)
    expected = reference(x, src_key_padding_mask=~mask)
    got = ours(x, mask)
    assert torch.allclose(got[mask], expected[mask], atol=1e-5)


def test_chunked_dropout_path_is_used_and_bounded(monkeypatch):
    """On CPU with dropout the queries are chunked under checkpointing; with p=0
    nothing changes, and with p>0 gradients flow and the mean matches."""
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 2, 40, 4, requires_grad=True) for _ in range(3))
    mask = _mask([40, 10], 40)
    calls = []
    original = attention_module._sdpa
    monkeypatch.setattr(attention_module, "_sdpa", lambda *a: calls.append(a[0].shape[2]) or original(*a))
    tiny = 2 * 2 * 40 * 4 * 8  # bytes of 8 query rows
    out = masked_attention(q, k, v, mask, dropout_p=0.3, chunk_bytes=tiny)
    assert calls[:5] == [8, 8, 8, 8, 8]  # five chunks of 8 query rows
    out.sum().backward()
    assert q.grad is not None and torch.isfinite(q.grad).all()
    # the expectation of dropout attention is plain attention
    with torch.no_grad():
        plain = masked_attention(q, k, v, mask)
    with torch.enable_grad():
        mean = torch.stack([masked_attention(q, k, v, mask, 0.3, tiny).detach() for _ in range(300)]).mean(0)
    assert torch.allclose(mean, plain, atol=0.15)


def test_fallback_keeps_valid_rows_unchanged():
    mask = _mask([3, 0], 4)
    attendable, has_key = key_padding_fallback(mask)
    assert torch.equal(attendable[0], mask[0])
    assert attendable[1].tolist() == [True, False, False, False] and not has_key[1]
    assert not mask[1].any()  # the caller's mask is not modified


def test_encoder_attention_dropout_is_separate_from_residual_dropout():
    from mmerbench_methods._blocks.encoders import ModalityEncoder

    same = ModalityEncoder(4, 8, 2, 2, dropout=0.3)
    split = ModalityEncoder(4, 8, 2, 2, dropout=0.3, attention_dropout=0.0)
    assert {layer.self_attn.dropout for layer in same.encoder.layers} == {0.3}
    assert {layer.self_attn.dropout for layer in split.encoder.layers} == {0.0}
    assert {layer.dropout1.p for layer in split.encoder.layers} == {0.3}


def test_seeded_construction_draws_the_same_weights_as_pytorchs_modules():
    """Seeded runs start exactly where they started with nn.MultiheadAttention / nn.TransformerEncoder."""
    torch.manual_seed(3)
    reference = nn.MultiheadAttention(8, 2, batch_first=True)
    torch.manual_seed(3)
    ours = MultiheadAttention(8, 2)
    assert all(torch.equal(a, b) for a, b in zip(reference.state_dict().values(), ours.state_dict().values()))
    torch.manual_seed(4)
    layer = nn.TransformerEncoderLayer(8, 2, 16, 0.1, batch_first=True, norm_first=True)
    reference = nn.TransformerEncoder(layer, 3, enable_nested_tensor=False)
    after_reference = torch.rand(1)
    torch.manual_seed(4)
    ours = TransformerEncoder(8, 2, 3, 16, 0.1)
    assert torch.equal(torch.rand(1), after_reference)  # the same number of random draws
    assert reference.state_dict().keys() == ours.state_dict().keys()
    assert all(torch.equal(reference.state_dict()[k], ours.state_dict()[k]) for k in reference.state_dict())


def _masked_forward(block, x, key_mask):
    """The block's forward as written before the unpadded shortcut: always the mask, always the zeroing."""
    attendable, has_key = key_padding_fallback(key_mask)
    out = masked_attention(block._heads(x, 0), block._heads(x, 1), block._heads(x, 2), attendable,
                           block.dropout if block.training else 0.0, block.chunk_bytes)
    batch, _, steps, _ = out.shape
    out = block.out_proj(out.transpose(1, 2).reshape(batch, steps, block.dim))
    return out * has_key[:, None, None].to(out.dtype)


@pytest.mark.parametrize("attention_dropout", [0.0, 0.3])
@pytest.mark.parametrize("threads", [1, 2])
def test_an_unpadded_batch_gives_the_masked_numbers_bit_for_bit(attention_dropout, threads):
    """With every key valid the block skips the mask and the zeroing; forward and backward equal the
    masked formula's (the path a batch with padding takes) bit for bit."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(1)
        block = MultiheadAttention(64, 8, dropout=attention_dropout).train()
        x = torch.randn(16, 50, 64, requires_grad=True)
        upstream = torch.randn(16, 50, 64)
        full = torch.ones(16, 50, dtype=torch.bool)
        results = []
        for forward in (block, lambda a, b, c, mask: _masked_forward(block, a, mask)):
            torch.manual_seed(2)  # the same attention-dropout draws in both
            out = forward(x, x, x, full)
            results.append((out.detach(), torch.autograd.grad(out, [x, *block.parameters()], upstream)))
        (out_a, grads_a), (out_b, grads_b) = results
        assert torch.equal(out_a, out_b) and all(torch.equal(a, b) for a, b in zip(grads_a, grads_b))
    finally:
        torch.set_num_threads(previous)


def test_an_unpadded_batch_calls_attention_without_a_mask_and_a_padded_one_with_it(monkeypatch):
    block = MultiheadAttention(8, 2).eval()
    seen = []
    real = attention_module.masked_attention
    monkeypatch.setattr(attention_module, "masked_attention",
                        lambda q, k, v, key_mask, *args: seen.append(key_mask) or real(q, k, v, key_mask, *args))
    x = torch.randn(3, 5, 8)
    block(x, x, x, torch.ones(3, 5, dtype=torch.bool))
    block(x, x, x, _mask([5, 3, 0], 5))
    assert seen[0] is None and seen[1] is not None and seen[1].shape == (3, 5)
