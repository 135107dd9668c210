"""Per-modality sequence encoders: input LayerNorm, projection, Transformer."""

from __future__ import annotations

import math

import torch
from torch import nn

from mmerbench_methods._blocks.attention import TransformerEncoder


class SinusoidalPositions(nn.Module):
    """Fixed sinusoidal position encodings added to a (B, T, D) sequence."""

    def __init__(self, dim: int, max_steps: int = 4096):
        super().__init__()
        position = torch.arange(max_steps).unsqueeze(1)
        frequency = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
        table = torch.zeros(max_steps, dim)
        table[:, 0::2] = torch.sin(position * frequency)
        table[:, 1::2] = torch.cos(position * frequency[: dim // 2])
        self.register_buffer("table", table, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps = x.shape[1]
        if steps > self.table.shape[0]:
            raise ValueError(f"sequence of {steps} steps is longer than the {self.table.shape[0]} positions supported")
        return x + self.table[:steps].unsqueeze(0)


class ModalityEncoder(nn.Module):
    """LayerNorm over raw features, Linear to ``dim``, positions, Transformer encoder.

    ``attention_dropout`` (default: ``dropout``) is the dropout on attention
    probabilities alone. Padding is masked in self-attention (scaled_dot_product_attention with a
    key mask, see ``attention.py``) and padded outputs are zeroed, so values at
    padded steps never matter.
    """

    def __init__(self, input_dim: int, dim: int, layers: int, heads: int, dropout: float = 0.1,
                 feedforward: int | None = None, max_steps: int = 4096, activation: str = "relu",
                 attention_dropout: float | None = None):
        super().__init__()
        self.input_norm = nn.LayerNorm(input_dim)
        self.project = nn.Linear(input_dim, dim)
        self.positions = SinusoidalPositions(dim, max_steps)
        self.dropout = nn.Dropout(dropout)
        self.encoder = (
            TransformerEncoder(dim, heads, layers, feedforward or 4 * dim, dropout, activation,
                               attention_dropout=attention_dropout) if layers else None
        )
        self.output_norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, input_dim), (B, T) bool -> (B, T, dim)."""
        h = self.dropout(self.positions(self.project(self.input_norm(x))))
        if self.encoder is not None:
            h = self.encoder(h, mask)  # a sample with no valid step gets zeros, not NaN
        return self.output_norm(h) * mask.unsqueeze(-1).to(h.dtype)
