"""A batch without padding skips masking and zeroing (``masking.unpadded_on_cpu``) and changes no bit."""

from __future__ import annotations

import pytest
import torch

from mmerbench_methods._blocks import attention as attention_module
from mmerbench_methods._blocks import encoders as encoders_module
from mmerbench_methods._blocks import label_attention as label_attention_module
from mmerbench_methods._blocks.encoders import BertStyleEncoder, ModalityEncoder
from mmerbench_methods._blocks.label_attention import LabelWiseAttention
from mmerbench_methods._blocks.masking import unpadded_on_cpu


def test_unpadded_means_every_step_valid_on_the_cpu():
    assert unpadded_on_cpu(torch.ones(3, 4, dtype=torch.bool))
    padded = torch.ones(3, 4, dtype=torch.bool)
    padded[1, 3] = False
    assert not unpadded_on_cpu(padded)


def _run(module, inputs, seed=3):
    """Output and every gradient (inputs that require one, then parameters) of one seeded training call."""
    torch.manual_seed(seed)  # the same dropout draws on both paths
    out = module(*inputs)
    out = out[0] if isinstance(out, tuple) else out
    wrt = [t for t in inputs if isinstance(t, torch.Tensor) and t.requires_grad] + list(module.parameters())
    upstream = torch.randn(out.shape, generator=torch.Generator().manual_seed(4))
    return out.detach(), torch.autograd.grad(out, wrt, upstream)


def _bitwise(a, b):
    return a.dtype == b.dtype and torch.equal(a.view(torch.int32), b.view(torch.int32))


@pytest.mark.parametrize("case", ["pre-ln encoder", "bert encoder", "label attention"])
def test_skipping_the_mask_changes_no_bit(case, monkeypatch):
    torch.manual_seed(0)
    mask = torch.ones(8, 20, dtype=torch.bool)
    if case == "label attention":
        module = LabelWiseAttention(16, 32, 24, 12, dropout=0.2).train()
        inputs = (torch.randn(5, 16, requires_grad=True), torch.randn(8, 20, 32, requires_grad=True), mask)
        namespaces = [label_attention_module]
    else:
        kind = ModalityEncoder if case == "pre-ln encoder" else BertStyleEncoder
        module = kind(10, 32, 2, 4, dropout=0.2, attention_dropout=0.1).train()
        inputs = (torch.randn(8, 20, 10), mask)
        namespaces = [encoders_module, attention_module]
    skipped = _run(module, inputs)
    for namespace in namespaces:  # the masked path, as a batch with padding takes it
        monkeypatch.setattr(namespace, "unpadded_on_cpu", lambda mask: False)
    masked = _run(module, inputs)
    assert _bitwise(skipped[0], masked[0])
    assert len(skipped[1]) == len(masked[1]) and all(_bitwise(a, b) for a, b in zip(skipped[1], masked[1]))


def test_label_attention_skips_the_mask_only_without_padding(monkeypatch):
    seen = []
    real = label_attention_module.attend
    monkeypatch.setattr(label_attention_module, "attend",
                        lambda q, k, v, mask, scale: seen.append(mask) or real(q, k, v, mask, scale))
    module = LabelWiseAttention(4, 6, 5, 3).eval()
    frames = torch.randn(2, 7, 6)
    module(torch.randn(3, 4), frames, torch.ones(2, 7, dtype=torch.bool))
    padded = torch.ones(2, 7, dtype=torch.bool)
    padded[0, 5:] = False
    module(torch.randn(3, 4), frames, padded)
    assert seen[0] is None and seen[1] is padded
