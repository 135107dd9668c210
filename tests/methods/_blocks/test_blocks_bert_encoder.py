"""BertStyleEncoder against a direct transcription of the released LDDU code's BERT encoder.

The transcription below is written from the published formulas of that code
(``BertEmbeddings``, ``BertSelfAttention`` with the additive -10000 mask,
``BertSelfOutput``, ``BertIntermediate`` with GELU, ``BertOutput``; every
LayerNorm with eps 1e-12), reading the weights out of our module, so the two
must agree to float precision in eval mode.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mmerbench_methods._blocks.encoders import BertStyleEncoder, ModalityEncoder


def layer_norm(x, norm):
    return F.layer_norm(x, norm.weight.shape, norm.weight, norm.bias, eps=1e-12)


def reference_bert(encoder: BertStyleEncoder, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    heads = encoder.encoder.layers[0].self_attn.heads
    steps = x.shape[1]
    h = F.linear(layer_norm(x, encoder.input_norm), encoder.project.weight, encoder.project.bias)
    h = layer_norm(h + encoder.positions.weight[:steps], encoder.embedding_norm)
    additive = (1.0 - mask.float())[:, None, None, :] * -10000.0
    for layer in encoder.encoder.layers:
        attention = layer.self_attn
        q, k, v = F.linear(h, attention.in_proj_weight, attention.in_proj_bias).chunk(3, dim=-1)

        def split(t):
            return t.view(t.shape[0], t.shape[1], heads, -1).permute(0, 2, 1, 3)

        scores = split(q) @ split(k).transpose(-1, -2) / math.sqrt(q.shape[-1] // heads) + additive
        context = (scores.softmax(-1) @ split(v)).permute(0, 2, 1, 3).reshape(h.shape)
        attended = layer_norm(attention.out_proj(context) + h, layer.norm1)
        intermediate = F.gelu(layer.linear1(attended))
        h = layer_norm(layer.linear2(intermediate) + attended, layer.norm2)
    return h


def test_matches_the_released_codes_bert_layers_in_eval_mode():
    torch.manual_seed(0)
    encoder = BertStyleEncoder(7, 16, layers=2, heads=4, dropout=0.3, feedforward=24, max_steps=12).eval()
    for parameter in encoder.parameters():  # non-trivial LayerNorm and bias values, so no term can hide
        parameter.data.add_(0.05 * torch.randn_like(parameter))
    x = torch.randn(3, 9, 7)
    mask = torch.ones(3, 9, dtype=torch.bool)
    mask[1, 6:] = False
    mask[2, 2:] = False
    with torch.no_grad():
        ours = encoder(x, mask)
        expected = reference_bert(encoder, x, mask)
    valid = mask.unsqueeze(-1)
    # exp(-10000) underflows to 0 in float32, so masked keys contribute nothing in either
    torch.testing.assert_close(ours * valid, expected * valid, atol=2e-5, rtol=1e-5)
    assert torch.all(ours[~mask] == 0)  # padded steps are zeroed


def test_initialisation_is_normal_002_with_zero_biases():
    torch.manual_seed(1)
    encoder = BertStyleEncoder(40, 64, layers=2, heads=4, feedforward=64)
    weights = [encoder.project.weight, encoder.positions.weight, *(
        p for n, p in encoder.encoder.named_parameters() if n.endswith("weight") and "norm" not in n)]
    values = torch.cat([w.detach().flatten() for w in weights])
    assert abs(values.std().item() - 0.02) < 0.001
    assert abs(values.mean().item()) < 0.001
    for name, parameter in encoder.named_parameters():
        if name.endswith("bias"):
            assert torch.all(parameter == 0), name
    norms = [m for m in encoder.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert len(norms) == 2 + 2 * 2 and all(m.eps == 1e-12 for m in norms)


def test_differs_from_the_pre_ln_encoder_in_train_mode_dropouts_only_where_bert_has_them():
    encoder = BertStyleEncoder(5, 8, layers=1, heads=2, dropout=0.3, feedforward=8)
    layer = encoder.encoder.layers[0]
    assert isinstance(layer.dropout, torch.nn.Identity)  # no dropout between the GELU and the second dense
    assert layer.dropout1.p == layer.dropout2.p == 0.3 and not layer.norm_first
    assert not isinstance(ModalityEncoder(5, 8, 1, 2).encoder.layers[0].dropout, torch.nn.Identity)


def test_longer_sequence_than_the_position_table_is_refused():
    encoder = BertStyleEncoder(3, 8, layers=1, heads=2, max_steps=4)
    with pytest.raises(ValueError, match="5 steps is longer than the 4 learned positions"):
        encoder(torch.randn(1, 5, 3), torch.ones(1, 5, dtype=torch.bool))
