"""MaskedLSTM equals a packed-sequence LSTM with the same weights at every valid step."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from mmerbench_methods._blocks.recurrent import MaskedLSTM, reverse_within_lengths


def _reference(model: MaskedLSTM, x, lengths, layers, bidirectional):
    """nn.LSTM over packed sequences, with the weights copied from ``model``."""
    hidden = model.forward_layers[0].hidden_size
    reference = nn.LSTM(x.shape[-1], hidden, num_layers=layers, bidirectional=bidirectional, batch_first=True)
    for depth in range(layers):
        sources = [("", model.forward_layers[depth])]
        if bidirectional:
            sources.append(("_reverse", model.backward_layers[depth]))
        for suffix, layer in sources:
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(reference, f"{name}_l{depth}{suffix}").data.copy_(getattr(layer, f"{name}_l0").data)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, (h_n, _) = reference(packed)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    directions = 2 if bidirectional else 1
    final = h_n.view(layers, directions, x.shape[0], hidden)[-1].transpose(0, 1).reshape(x.shape[0], -1)
    return out, final


def test_reverse_within_lengths_is_an_involution():
    x = torch.arange(12.0).view(2, 6, 1)
    lengths = torch.tensor([4, 6])
    flipped = reverse_within_lengths(x, lengths)
    assert flipped[0, :, 0].tolist() == [3, 2, 1, 0, 4, 5]
    assert torch.equal(reverse_within_lengths(flipped, lengths), x)


def test_matches_packed_lstm_at_valid_steps_and_ignores_padding():
    torch.manual_seed(0)
    for layers, bidirectional in ((1, True), (2, True), (2, False)):
        model = MaskedLSTM(5, 7, layers=layers, bidirectional=bidirectional).eval()
        x = torch.randn(4, 9, 5)
        lengths = torch.tensor([9, 3, 1, 6])
        mask = torch.arange(9)[None] < lengths[:, None]
        out, final = model(x, mask)
        expected_out, expected_final = _reference(model, x * mask[..., None], lengths, layers, bidirectional)
        torch.testing.assert_close(out, expected_out * mask[..., None], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(final, expected_final, atol=1e-5, rtol=1e-5)
        noisy = x.clone()
        noisy[~mask] = 1e3
        again, again_final = model(noisy, mask)
        torch.testing.assert_close(again, out)
        torch.testing.assert_close(again_final, final)


def test_missing_sequence_gives_zeros():
    model = MaskedLSTM(3, 4)
    out, final = model(torch.randn(2, 5, 3), torch.tensor([[True] * 5, [False] * 5]))
    assert torch.all(out[1] == 0) and torch.all(final[1] == 0) and torch.isfinite(out).all()
