"""Dropout masks from PCG64 (``_blocks/pcg_masks.py``), opted into with ``mask_source="pcg64"``."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from mmerbench_methods._blocks import pcg_masks
from mmerbench_methods._blocks.attention import dot_product_attention
from mmerbench_methods._blocks.dropout import Dropout, draw_masks_from, dropout
from mmerbench_methods._blocks.uniform import uniform_float32


@pytest.mark.parametrize("p", [0.1, 0.3])
def test_keep_rate_and_scale(p):
    torch.manual_seed(0)
    x = torch.full((400_000,), 2.0)
    y = dropout(x, p, mask_source="pcg64")
    kept = y != 0
    # 400k Bernoulli(1 - p) draws: the rate's std is below 7.5e-4; 5 sigma
    assert abs(kept.float().mean().item() - (1 - p)) < 0.004
    assert torch.equal(y[kept], torch.full_like(y[kept], 2.0) * (1.0 / (1.0 - p)))


def test_the_threshold_keeps_words_at_and_above_it(monkeypatch):
    """Kept with probability 1 - round(p * 2**32) / 2**32: the word at the threshold is kept, the one below not."""
    assert pcg_masks._threshold(0.5) == 0
    assert pcg_masks._threshold(0.25) == -(2 ** 30)
    assert pcg_masks._threshold(1.0 - 2 ** -40) == 2 ** 31 - 1  # stays a 32-bit word
    threshold = pcg_masks._threshold(0.3)
    words = torch.tensor([threshold - 1, threshold, 2 ** 31 - 1, -(2 ** 31)], dtype=torch.int32)
    monkeypatch.setattr(pcg_masks, "_words", lambda count: [words[:count]])
    assert pcg_masks.keep_mask(torch.Size([4]), 0.3).tolist() == [False, True, True, False]
    scaled = pcg_masks.scaled_keep_mask(torch.Size([4]), 0.3, torch.float32)
    assert torch.equal(scaled, torch.tensor([0.0, 1.0, 1.0, 0.0]) * (1.0 / 0.7))


def test_seeded_masks_repeat_and_take_one_draw_of_torchs_generator():
    torch.manual_seed(3)
    first, after_first = pcg_masks.scaled_keep_mask(torch.Size([5, 7]), 0.4, torch.float32), torch.rand(3)
    torch.manual_seed(3)
    second = pcg_masks.scaled_keep_mask(torch.Size([5, 7]), 0.4, torch.float32)
    assert torch.equal(first, second)
    torch.manual_seed(3)
    torch.empty((), dtype=torch.int64).random_(-(2 ** 63), None)  # the one 64-bit draw a mask takes
    assert torch.equal(torch.rand(3), after_first)
    torch.manual_seed(4)
    assert not torch.equal(pcg_masks.scaled_keep_mask(torch.Size([5, 7]), 0.4, torch.float32), first)


def test_activation_checkpointing_replays_the_same_mask():
    layer = nn.Sequential(nn.Linear(6, 6), Dropout(0.5, mask_source="pcg64"), nn.Linear(6, 1))
    x = torch.randn(32, 6)
    grads = []
    for use_checkpoint in (False, True):
        torch.manual_seed(5)
        out = checkpoint(layer, x, use_reentrant=False) if use_checkpoint else layer(x)
        grads.append(torch.autograd.grad(out.sum(), list(layer.parameters())))
    assert all(torch.equal(a, b) for a, b in zip(*grads))


def test_boolean_masks_for_reduced_precision_and_attention_maps_come_from_pcg64_too():
    torch.manual_seed(6)
    x = torch.ones(64, 50, dtype=torch.bfloat16)
    y = dropout(x, 0.3, mask_source="pcg64")
    torch.manual_seed(6)
    keep = pcg_masks.keep_mask(x.shape, 0.3)
    assert torch.equal(y != 0, keep)
    query = key = value = torch.randn(2, 3, 5, 4)
    torch.manual_seed(7)
    a = dot_product_attention(query, key, value, dropout_p=0.5, mask_source="pcg64")
    torch.manual_seed(7)
    b = dot_product_attention(query, key, value, dropout_p=0.5, mask_source="pcg64")
    torch.manual_seed(7)
    c = dot_product_attention(query, key, value, dropout_p=0.5)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_torch_stays_the_default_source_with_its_numbers():
    """Every method that does not opt in keeps torch.rand's masks, bit for bit."""
    x = torch.randn(40, 30)
    assert Dropout(0.3).mask_source == "torch"
    torch.manual_seed(8)
    y = Dropout(0.3)(x)
    torch.manual_seed(8)
    expected = x * uniform_float32(x.shape).ge_(0.3).mul_(1.0 / 0.7)
    assert torch.equal(y, expected)


def test_draw_masks_from_switches_every_mask_drawing_module_and_refuses_unknown_sources():
    from mmerbench_methods._blocks.encoders import ModalityEncoder

    encoder = ModalityEncoder(10, 16, 2, 4, dropout=0.2, attention_dropout=0.1)
    sources = [m.mask_source for m in encoder.modules() if hasattr(m, "mask_source")]
    assert len(sources) == 1 + 2 * 4 and set(sources) == {"torch"}  # embedding, then per layer 3 + attention
    assert draw_masks_from(encoder, "pcg64") is encoder
    assert {m.mask_source for m in encoder.modules() if hasattr(m, "mask_source")} == {"pcg64"}
    with pytest.raises(ValueError, match="mask_source='philox'"):
        draw_masks_from(encoder, "philox")
    with pytest.raises(ValueError, match="mask_source='philox'"):
        Dropout(0.1, mask_source="philox")
    with pytest.raises(ValueError, match="mask_source='philox'"):
        dropout(torch.ones(3), 0.1, mask_source="philox")


@pytest.fixture(params=[1, 2], ids=["1-thread", "2-threads"])
def torch_threads(request, monkeypatch):
    """torch's thread count as a job sets it (--threads): with 1 the mask is drawn without a helper thread."""
    monkeypatch.setattr(pcg_masks.torch, "get_num_threads", lambda: request.param)
    if request.param == 1:
        monkeypatch.setattr(pcg_masks, "_second_thread", lambda: pytest.fail("a helper thread under --threads 1"))
    return request.param


@pytest.mark.parametrize("count", [2 * pcg_masks.PARALLEL_PAIRS - 3, 2 * pcg_masks.PARALLEL_PAIRS + 7])
def test_a_large_mask_takes_its_second_half_from_the_jumped_stream(count, torch_threads):
    """Drawn by two threads, a mask's words are still a function of its seed and size alone: the first
    half of the 64-bit draws from PCG64(seed), the rest from PCG64(seed).jumped(), in that order (below
    ``PARALLEL_PAIRS`` draws, all from PCG64(seed))."""
    import numpy as np

    torch.manual_seed(12)
    seed = int(torch.empty((), dtype=torch.int64).random_(-(2 ** 63), None)) & (2 ** 64 - 1)
    pairs = (count + 1) // 2
    if pairs < pcg_masks.PARALLEL_PAIRS:
        raw = np.random.PCG64(seed).random_raw(pairs)
    else:
        jumped = np.random.PCG64(seed).jumped()  # jumped from the seeded state, not from after the first half
        raw = np.concatenate([np.random.PCG64(seed).random_raw(pairs // 2), jumped.random_raw(pairs - pairs // 2)])
    expected = torch.from_numpy(raw.view(np.int32)[:count].copy()) >= pcg_masks._threshold(0.3)
    torch.manual_seed(12)
    assert torch.equal(pcg_masks.keep_mask(torch.Size([count]), 0.3), expected)
    torch.manual_seed(12)
    scaled = pcg_masks.scaled_keep_mask(torch.Size([count]), 0.3, torch.float64)
    assert torch.equal(scaled, expected.double() * (1.0 / 0.7))


def test_the_helper_thread_belongs_to_one_process(monkeypatch):
    """A forked child (the warm server's jobs) must not submit to its parent's thread, which it does not have."""
    helper = pcg_masks._second_thread()
    assert pcg_masks._second_thread() is helper
    monkeypatch.setattr(pcg_masks.os, "getpid", lambda: -1)
    assert pcg_masks._second_thread() is not helper
