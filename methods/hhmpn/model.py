"""HHMPN (Zhang et al., AAAI 2021): heterogeneous hierarchical message passing for multi-modal multi-label emotions.

1. Encoder, MulT-style: each target modality attends to every other modality
   through a crossmodal Transformer; the crossmodal outputs are merged and a
   self-attention Transformer (MulT's memory) gives O^m (B, T_m, d).
2. Per modality a stack of label-graph layers over q label nodes (trainable
   label embeddings, the same initial nodes for every modality):
   - label-to-label message passing (``label_attention=True``, the paper):
     self-attention among labels, masked by a co-occurrence prior (label i
     hears label j only when j occurred with i in training, and always
     itself). The released decoders are built with this sublayer switched
     off (``label_attention=False``): labels then meet only in the fusion;
   - label-to-modality: each label node attends to O^m (padding masked);
   - a feed-forward sublayer.
3. Fusion across modalities per label ("multi-angle" fusion of the released
   code): each modality's label node is projected, scored by a small MLP,
   and the softmax over (present) modalities weighs them. The released code
   calls ``softmax`` without ``dim`` on its 4-D score tensor, which PyTorch
   resolves to dim 1 -- the label axis there, so its weights sum to one over
   labels, not modalities; we keep the evident intent (a weighting of the
   modalities per label).
4. One logit per label from its fused node (a per-label weight vector).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mmerbench_methods._blocks.attention import MultiheadAttention, dot_product_attention
from mmerbench_methods._blocks.crossmodal import CrossmodalTransformer
from mmerbench_methods._blocks.dropout import Dropout
from mmerbench_methods._blocks.graph import conditional_cooccurrence


@dataclass
class HHMPNConfig:
    modality_dims: dict[str, int]
    n_labels: int
    dim: int = 512
    heads: int = 8
    encoder_layers: int = 3
    graph_layers: int = 3
    feedforward: int = 512
    dropout: float = 0.2
    fusion_hidden: int = 32  # the released code's score MLP width
    label_attention: bool = True  # label-to-label message passing (the paper); False: as released
    max_steps: int = 4096


def prior_label_mask(labels: np.ndarray, min_conditional: float = 0.0) -> torch.Tensor:
    """(q, q) bool: True where label i may receive a message from label j.

    j -> i is kept when P(j | i) in training is above ``min_conditional`` (default 0:
    the two co-occurred at least once); every label keeps its self-loop, so no
    row is empty.
    """
    conditional = conditional_cooccurrence(labels)  # P[i, j] = P(j | i)
    allowed = torch.as_tensor(conditional > min_conditional)
    return allowed | torch.eye(allowed.shape[0], dtype=torch.bool)


class LabelGraphLayer(nn.Module):
    """Pre-LN: masked label-to-label attention, label-to-modality attention, feed-forward.

    forward(nodes (B, q, d), label_mask (q, q) bool, memory (B, T, d), memory_mask (B, T)) -> (B, q, d)
    """

    def __init__(self, dim: int, heads: int, feedforward: int, dropout: float, label_attention: bool = True):
        super().__init__()
        self.heads, self.dropout_p = heads, dropout
        self.label_attention = label_attention
        if label_attention:
            self.label_norm = nn.LayerNorm(dim)
            self.label_qkv = nn.Linear(dim, 3 * dim)
            self.label_out = nn.Linear(dim, dim)
        self.modality_norm = nn.LayerNorm(dim)
        self.modality_attention = MultiheadAttention(dim, heads, dropout)
        self.feedforward_norm = nn.LayerNorm(dim)
        self.feedforward = nn.Sequential(nn.Linear(dim, feedforward), nn.ReLU(), Dropout(dropout),
                                         nn.Linear(feedforward, dim))
        self.dropout = Dropout(dropout)

    def label_messages(self, nodes: torch.Tensor, label_mask: torch.Tensor) -> torch.Tensor:
        batch, q, dim = nodes.shape
        qkv = self.label_qkv(self.label_norm(nodes)).view(batch, q, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        out = dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=label_mask,
                                    dropout_p=self.dropout_p if self.training else 0.0)
        return self.label_out(out.transpose(1, 2).reshape(batch, q, dim))

    def forward(self, nodes, label_mask, memory, memory_mask):
        if self.label_attention:
            nodes = nodes + self.dropout(self.label_messages(nodes, label_mask))
        query = self.modality_norm(nodes)
        nodes = nodes + self.dropout(self.modality_attention(query, memory, memory, memory_mask))
        return nodes + self.dropout(self.feedforward(self.feedforward_norm(nodes)))


class ModalityFusion(nn.Module):
    """Per label: project each modality's node, score it, softmax over present modalities, weighted sum."""

    def __init__(self, modalities: list[str], dim: int, hidden: int):
        super().__init__()
        self.modalities = modalities
        self.project = nn.ModuleDict({m: nn.Linear(dim, dim) for m in modalities})
        self.score = nn.Sequential(nn.Linear(dim, hidden), nn.Linear(hidden, 1))  # as released: no activation
        self.out = nn.Linear(dim, dim)

    def forward(self, nodes: dict[str, torch.Tensor], present: dict[str, torch.Tensor]):
        """nodes m -> (B, q, d), present m -> (B,) bool -> (fused (B, q, d), weights (B, q, M))."""
        views = torch.stack([self.project[m](nodes[m]) for m in self.modalities], dim=2)  # (B, q, M, d)
        scores = self.score(views).squeeze(-1)  # (B, q, M)
        allowed = torch.stack([present[m] for m in self.modalities], dim=1)[:, None, :]  # (B, 1, M)
        allowed = allowed | ~allowed.any(dim=-1, keepdim=True)  # nothing present: uniform over zeros
        weights = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
        return self.out((weights.unsqueeze(-1) * views).sum(dim=2)), weights


class HHMPN(nn.Module):
    def __init__(self, config: HHMPNConfig, label_mask: torch.Tensor):
        super().__init__()
        self.config = config
        self.modalities = list(config.modality_dims)
        d = config.dim
        self.project = nn.ModuleDict({m: nn.Linear(k, d) for m, k in config.modality_dims.items()})
        self.crossmodal = nn.ModuleDict({
            f"{target}<-{source}": CrossmodalTransformer(d, config.heads, config.encoder_layers, config.dropout,
                                                         config.dropout, config.dropout, config.dropout,
                                                         config.max_steps)
            for target in self.modalities for source in self.modalities if source != target})
        sources = max(1, len(self.modalities) - 1)
        self.merge = nn.ModuleDict({m: nn.Linear(sources * d, d) for m in self.modalities})
        self.memory = nn.ModuleDict({
            m: CrossmodalTransformer(d, config.heads, config.encoder_layers, config.dropout, config.dropout,
                                     config.dropout, config.dropout, config.max_steps) for m in self.modalities})
        self.label_nodes = nn.Parameter(torch.randn(config.n_labels, d) * d ** -0.5)
        self.graph = nn.ModuleDict({
            m: nn.ModuleList([LabelGraphLayer(d, config.heads, config.feedforward, config.dropout, config.label_attention)
                              for _ in range(config.graph_layers)]) for m in self.modalities})
        self.register_buffer("label_mask", label_mask.to(torch.bool).clone())
        self.fusion = ModalityFusion(self.modalities, d, config.fusion_hidden)
        self.label_weight = nn.Parameter(torch.randn(config.n_labels, d) * d ** -0.5)
        self.label_bias = nn.Parameter(torch.zeros(config.n_labels))

    def encode(self, features, masks) -> dict[str, torch.Tensor]:
        projected = {m: self.project[m](features[m]) for m in self.modalities}
        encoded = {}
        for target in self.modalities:
            others = [s for s in self.modalities if s != target]
            if others:
                parts = [self.crossmodal[f"{target}<-{s}"](projected[target], masks[target], projected[s], masks[s])
                         for s in others]
                merged = self.merge[target](torch.cat(parts, dim=-1))
            else:
                merged = projected[target]
            encoded[target] = self.memory[target](merged, masks[target])  # (B, T_m, d), zero at padding
        return encoded

    def forward(self, features, masks, return_weights: bool = False):
        """-> logits (B, q) (and the fusion weights (B, q, M) when asked)."""
        encoded = self.encode(features, masks)
        batch = next(iter(masks.values())).shape[0]
        nodes = {}
        for m in self.modalities:
            x = self.label_nodes.unsqueeze(0).expand(batch, -1, -1)
            for layer in self.graph[m]:
                x = layer(x, self.label_mask, encoded[m], masks[m])
            nodes[m] = x
        fused, weights = self.fusion(nodes, {m: masks[m].any(dim=1) for m in self.modalities})
        logits = (fused * self.label_weight).sum(-1) + self.label_bias
        return (logits, weights) if return_weights else logits
