"""Recurrent encoders that respect padding (packed sequences)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class MaskedLSTM(nn.Module):
    """(Bi)LSTM over right-padded sequences; padded steps never influence the result.

    forward(x (B, T, D_in), mask (B, T)) -> (outputs (B, T, H * directions),
    final (B, H * directions)). A sample with no valid step (missing
    modality) gets zero outputs and a zero final state.
    """

    def __init__(self, input_dim: int, hidden: int, layers: int = 1, bidirectional: bool = True, dropout: float = 0.0):
        super().__init__()
        self.lstm = nn.LSTM(input_dim, hidden, num_layers=layers, batch_first=True,
                            bidirectional=bidirectional, dropout=dropout if layers > 1 else 0.0)
        self.directions = 2 if bidirectional else 1
        self.output_dim = hidden * self.directions

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, steps, _ = x.shape
        lengths = mask.sum(dim=1)
        present = lengths > 0
        packed = pack_padded_sequence(x, lengths.clamp_min(1).cpu(), batch_first=True, enforce_sorted=False)
        outputs, (hidden, _) = self.lstm(packed)
        outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=steps)
        last_layer = hidden.view(self.lstm.num_layers, self.directions, batch, -1)[-1]  # (dirs, B, H)
        final = last_layer.transpose(0, 1).reshape(batch, -1)
        keep = present.to(x.dtype)
        return outputs * keep[:, None, None], final * keep[:, None]
