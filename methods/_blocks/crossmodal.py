"""Crossmodal Transformer blocks: queries from one sequence, keys and values from another.

MulT (Tsai et al., 2019) builds its fusion from these: a target modality's
sequence repeatedly attends to a source modality's sequence, whatever the two
lengths (unaligned data needs no alignment). With no source given, the same
stack is an ordinary self-attention Transformer (MulT's per-target memory).
TAILOR's label decoder is one such layer with a self-attention sublayer over
its label queries first (a Transformer decoder layer without causal mask).

Masks are (B, T) bool, True at valid steps, on both sides:
- keys at padded source steps get no attention weight;
- a sample whose source has no valid step (a missing modality) receives
  zero from the attention sublayer instead of NaN;
- outputs at padded query steps are zeroed, so they never matter downstream.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mmerbench_methods._blocks.attention import MultiheadAttention
from mmerbench_methods._blocks.dropout import Dropout
from mmerbench_methods._blocks.encoders import SinusoidalPositions

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU}


class CrossmodalLayer(nn.Module):
    """One layer: [self-attention over the queries,] attention to the source, feed-forward.

    Args:
        dim: model width (queries and source both have it).
        heads: attention heads.
        feedforward: hidden width of the feed-forward sublayer (default 4 * dim).
        attention_dropout: dropout on attention weights.
        activation_dropout: dropout after the feed-forward activation.
        residual_dropout: dropout on each sublayer's output before the residual sum.
        activation: "relu" (MulT) or "gelu" (BERT-style, TAILOR).
        norm_first: pre-LayerNorm (MulT; the source is normalised by the same
            LayerNorm as the queries, as in MulT's code) or post-LayerNorm (BERT).
        self_attention: add a self-attention sublayer over the queries first.

    forward(x (B, Tq, dim), x_mask (B, Tq), source (B, Tk, dim), source_mask (B, Tk))
    -> (B, Tq, dim), zero at padded query steps.
    """

    def __init__(self, dim: int, heads: int, feedforward: int | None = None, attention_dropout: float = 0.0,
                 activation_dropout: float = 0.0, residual_dropout: float = 0.0, activation: str = "relu",
                 norm_first: bool = True, self_attention: bool = False):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation={activation!r} is not valid: use one of {', '.join(ACTIVATIONS)}")
        if dim % heads:
            raise ValueError(f"dim={dim} is not divisible by heads={heads}")
        self.norm_first = norm_first
        self.self_attention = (
            MultiheadAttention(dim, heads, attention_dropout) if self_attention else None
        )
        self.self_norm = nn.LayerNorm(dim) if self_attention else None
        self.cross_attention = MultiheadAttention(dim, heads, attention_dropout)
        self.cross_norm = nn.LayerNorm(dim)
        hidden = feedforward or 4 * dim
        self.feedforward = nn.Sequential(
            nn.Linear(dim, hidden), ACTIVATIONS[activation](), Dropout(activation_dropout), nn.Linear(hidden, dim)
        )
        self.feedforward_norm = nn.LayerNorm(dim)
        self.residual_dropout = Dropout(residual_dropout)

    @staticmethod
    def _attend(attention: MultiheadAttention, query: torch.Tensor, source: torch.Tensor,
                source_mask: torch.Tensor) -> torch.Tensor:
        return attention(query, source, source, source_mask)

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor, source: torch.Tensor,
                source_mask: torch.Tensor) -> torch.Tensor:
        if self.self_attention is not None:
            if self.norm_first:
                h = self.self_norm(x)
                x = x + self.residual_dropout(self._attend(self.self_attention, h, h, x_mask))
            else:
                x = self.self_norm(x + self.residual_dropout(self._attend(self.self_attention, x, x, x_mask)))
        if self.norm_first:
            h = self.cross_norm(x)
            keys = self.cross_norm(source)
            x = x + self.residual_dropout(self._attend(self.cross_attention, h, keys, source_mask))
            x = x + self.residual_dropout(self.feedforward(self.feedforward_norm(x)))
        else:
            x = self.cross_norm(x + self.residual_dropout(self._attend(self.cross_attention, x, source, source_mask)))
            x = self.feedforward_norm(x + self.residual_dropout(self.feedforward(x)))
        return x * x_mask.unsqueeze(-1).to(x.dtype)


class CrossmodalTransformer(nn.Module):
    """MulT's crossmodal Transformer: a stack of pre-LN :class:`CrossmodalLayer`.

    Both sequences are scaled by sqrt(dim), get sinusoidal positions and
    embedding dropout; the source is embedded once and read by every layer.
    Without a source the stack is a self-attention Transformer (each layer
    attends to the current queries). A final LayerNorm closes the stack.

    forward(x (B, Tq, dim), x_mask (B, Tq), source=None (B, Tk, dim), source_mask=None (B, Tk))
    -> (B, Tq, dim), zero at padded query steps.
    """

    def __init__(self, dim: int, heads: int, layers: int, attention_dropout: float = 0.1,
                 activation_dropout: float = 0.1, residual_dropout: float = 0.1, embed_dropout: float = 0.25,
                 max_steps: int = 4096):
        super().__init__()
        self.scale = math.sqrt(dim)
        self.positions = SinusoidalPositions(dim, max_steps)
        self.embed_dropout = Dropout(embed_dropout)
        self.layers = nn.ModuleList([
            CrossmodalLayer(dim, heads, 4 * dim, attention_dropout, activation_dropout, residual_dropout,
                            activation="relu", norm_first=True)
            for _ in range(layers)
        ])
        self.final_norm = nn.LayerNorm(dim)

    def _embed(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.embed_dropout(self.positions(self.scale * x)) * mask.unsqueeze(-1).to(x.dtype)

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor, source: torch.Tensor | None = None,
                source_mask: torch.Tensor | None = None) -> torch.Tensor:
        if (source is None) != (source_mask is None):
            raise ValueError("give both source and source_mask, or neither (self-attention)")
        x = self._embed(x, x_mask)
        if source is not None:
            source = self._embed(source, source_mask)
        for layer in self.layers:
            if source is None:
                x = layer(x, x_mask, x, x_mask)
            else:
                x = layer(x, x_mask, source, source_mask)
        return self.final_norm(x) * x_mask.unsqueeze(-1).to(x.dtype)
