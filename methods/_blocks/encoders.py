"""Per-modality sequence encoders: input LayerNorm, projection, Transformer."""

from __future__ import annotations

import math

import torch
from torch import nn

from mmerbench_methods._blocks.attention import TransformerEncoder
from mmerbench_methods._blocks.dropout import Dropout
from mmerbench_methods._blocks.masking import unpadded_on_cpu
from mmerbench_methods._blocks.norm_linear import norm_then_linear


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
                 attention_dropout: float | None = None, fused_input_projection: bool = False,
                 fused_qkv: bool = False):
        super().__init__()
        # True: input LayerNorm and projection through ``norm_linear.py`` (one matrix product less in
        # backward; the same model, other float rounding). Off by default, so that the methods built on
        # this encoder keep their numbers; a method turns it on with a version bump.
        self.fused_input_projection = bool(fused_input_projection)
        # True: each layer's self-attention projects queries, keys and values with one matrix product
        # (``MultiheadAttention(fused_qkv=True)``). The same model, other float rounding; off by default
        # for the same reason.
        self.input_norm = nn.LayerNorm(input_dim)
        self.project = nn.Linear(input_dim, dim)
        self.positions = SinusoidalPositions(dim, max_steps)
        self.dropout = Dropout(dropout)
        self.encoder = (
            TransformerEncoder(dim, heads, layers, feedforward or 4 * dim, dropout, activation,
                               attention_dropout=attention_dropout, fused_qkv=fused_qkv) if layers else None
        )
        self.output_norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, input_dim), (B, T) bool -> (B, T, dim)."""
        projected = (norm_then_linear(x, self.input_norm, self.project) if self.fused_input_projection
                     else self.project(self.input_norm(x)))
        h = self.dropout(self.positions(projected))
        if self.encoder is not None:
            h = self.encoder(h, mask)  # a sample with no valid step gets zeros, not NaN
        h = self.output_norm(h)
        return h if unpadded_on_cpu(mask) else h * mask.unsqueeze(-1).to(h.dtype)  # x * 1 changes no bit


class BertStyleEncoder(nn.Module):
    """The encoder of the LDDU/TAILOR released code (their ``BertModel``, ``VisualModel``, ``AudioModel``),
    for presets that follow that code.

    LayerNorm over raw features, Linear embedding plus learned positions, LayerNorm and
    dropout, then post-LN layers with GELU whose feed-forward has no inner dropout; every Linear and
    Embedding weight drawn from normal(0, ``init_std``), biases zero; every LayerNorm's eps 1e-12. Differs from
    :class:`ModalityEncoder` (pre-LN, sinusoidal positions, ReLU, PyTorch's default initialisation),
    which the ``paper`` presets keep. Padded outputs are zeroed. ``fused_qkv``: as :class:`ModalityEncoder`'s.
    """

    def __init__(self, input_dim: int, dim: int, layers: int, heads: int, dropout: float = 0.3,
                 feedforward: int | None = None, max_steps: int = 512, attention_dropout: float | None = None,
                 init_std: float = 0.02, fused_qkv: bool = False):
        super().__init__()
        self.input_norm = nn.LayerNorm(input_dim, eps=1e-12)
        self.project = nn.Linear(input_dim, dim)
        self.positions = nn.Embedding(max_steps, dim)
        self.embedding_norm = nn.LayerNorm(dim, eps=1e-12)
        self.dropout = Dropout(dropout)
        self.encoder = (
            TransformerEncoder(dim, heads, layers, feedforward or 4 * dim, dropout, "gelu", norm_first=False,
                               attention_dropout=attention_dropout, fused_qkv=fused_qkv) if layers else None
        )
        if self.encoder is not None:
            for layer in self.encoder.layers:
                layer.dropout = nn.Identity()  # BERT's intermediate (dense -> GELU) has no dropout
                layer.norm1.eps = layer.norm2.eps = 1e-12
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, 0.0, init_std)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        # The attention block keeps its projections in one in_proj parameter (nn.MultiheadAttention's
        # layout), which is not an nn.Linear: draw it as BERT draws its query/key/value weights.
        for name, parameter in self.named_parameters():
            if name.endswith("in_proj_weight"):
                nn.init.normal_(parameter, 0.0, init_std)
            elif name.endswith("in_proj_bias"):
                nn.init.zeros_(parameter)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, T, input_dim), (B, T) bool -> (B, T, dim)."""
        steps = x.shape[1]
        if steps > self.positions.num_embeddings:
            raise ValueError(f"sequence of {steps} steps is longer than the {self.positions.num_embeddings} "
                             "learned positions")
        h = self.project(self.input_norm(x)) + self.positions.weight[:steps].unsqueeze(0)
        h = self.dropout(self.embedding_norm(h))
        if self.encoder is not None:
            h = self.encoder(h, mask)
        return h if unpadded_on_cpu(mask) else h * mask.unsqueeze(-1).to(h.dtype)  # x * 1 changes no bit
