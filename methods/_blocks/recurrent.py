"""Recurrent encoders that respect padding, without packed sequences.

Packed sequences are exact but their backward pass is very slow on CPU
(seconds for a 500-frame modality). Right padding makes them unnecessary:
the forward direction reads valid steps first, so its outputs there are exact;
the backward direction runs over each sequence reversed *within its own
length* (padding stays at the end), then is flipped back. Layers are stacked
by hand so each layer sees both directions of the one below, as in
``nn.LSTM(bidirectional=True)``.
"""

from __future__ import annotations

import torch
from torch import nn

from mmerbench_methods._blocks.dropout import Dropout


def reverse_within_lengths(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse the first ``lengths[b]`` steps of each sequence; padded steps stay in place.

    (B, T, D), (B,) -> (B, T, D). Applying it twice gives ``x`` back.
    """
    steps = torch.arange(x.shape[1], device=x.device).unsqueeze(0)  # (1, T)
    lengths = lengths.unsqueeze(1)  # (B, 1)
    index = torch.where(steps < lengths, lengths - 1 - steps, steps)  # (B, T)
    return x.gather(1, index.unsqueeze(-1).expand_as(x))


class MaskedLSTM(nn.Module):
    """(Bi)LSTM over right-padded sequences; padded steps never influence the result.

    forward(x (B, T, D_in), mask (B, T)) -> (outputs (B, T, H * directions),
    final (B, H * directions)). ``final`` holds each direction's last state
    (forward: at the last valid step; backward: at the first step), as
    ``nn.LSTM``'s ``h_n`` of the top layer. A sample with no valid step
    (missing modality) gets zero outputs and a zero final state.
    """

    def __init__(self, input_dim: int, hidden: int, layers: int = 1, bidirectional: bool = True, dropout: float = 0.0):
        super().__init__()
        self.directions = 2 if bidirectional else 1
        self.output_dim = hidden * self.directions
        sizes = [input_dim] + [self.output_dim] * (layers - 1)
        self.forward_layers = nn.ModuleList(nn.LSTM(size, hidden, batch_first=True) for size in sizes)
        self.backward_layers = nn.ModuleList(
            nn.LSTM(size, hidden, batch_first=True) for size in sizes) if bidirectional else None
        self.dropout = Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = mask.sum(dim=1)  # (B,)
        keep = mask.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
        h = x * keep
        for depth, forward_lstm in enumerate(self.forward_layers):
            if depth:
                h = self.dropout(h)
            forward_out, _ = forward_lstm(h)  # (B, T, H)
            parts = [forward_out]
            if self.backward_layers is not None:
                reversed_out, _ = self.backward_layers[depth](reverse_within_lengths(h, lengths))
                parts.append(reverse_within_lengths(reversed_out, lengths))
            h = torch.cat(parts, dim=-1) * keep  # (B, T, H * directions)
        last = (lengths - 1).clamp_min(0)
        rows = torch.arange(x.shape[0], device=x.device)
        hidden = h.shape[-1] // self.directions
        final = [h[rows, last, :hidden]]  # forward direction at the last valid step
        if self.backward_layers is not None:
            final.append(h[:, 0, hidden:])  # backward direction ends at step 0
        present = (lengths > 0).to(x.dtype).unsqueeze(-1)
        return h, torch.cat(final, dim=-1) * present
