"""LSAN: Label-Specific Attention Network (Xiao et al., EMNLP 2019).

A BiLSTM reads the text, H = [H_fwd; H_bwd] (B, T, 2k). Two label-specific
document representations, one (2k)-vector per label, are fused per label:

- label-specific self-attention (content): A_s = softmax_T(W2 tanh(W1 H^T))
  gives each label its own weights over words, M_s = A_s H        (B, q, 2k)
- label attention (label semantics): trainable label embeddings C (q, k) score
  each direction's states, A_f = C H_fwd^T, A_b = C H_bwd^T (no softmax, as in
  the paper and the released code), M_l = [A_f H_fwd ; A_b H_bwd]   (B, q, 2k)
- adaptive fusion: alpha = sigmoid(M_s w1), beta = sigmoid(M_l w2), normalised
  so alpha + beta = 1, M = alpha M_s + beta M_l                     (B, q, 2k)
- per-label output (paper eq. 13): y_j = sigmoid(w6 . relu(W5 M_j)), W5 and w6
  shared by all labels.

The released code averages M over labels and applies one linear layer; we
follow the paper's per-label output. Padded steps of H are zero (MaskedLSTM),
so they add nothing to M_l, and they get zero weight in A_s.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mmerbench_methods._blocks.dropout import Dropout
from mmerbench_methods._blocks.masking import masked_softmax
from mmerbench_methods._blocks.recurrent import MaskedLSTM


@dataclass
class LSANConfig:
    input_dim: int  # text feature size
    n_labels: int  # q
    hidden: int = 300  # k, LSTM size per direction (released config: 300)
    attention_dim: int = 200  # d_a of the self-attention (released config: 200)
    output_hidden: int = 256  # size of W5 (our choice; the paper leaves it open)
    dropout: float = 0.3  # on the inputs, as the released code's embedding dropout


class LabelSpecificSelfAttention(nn.Module):
    """A_s = softmax over time of W2 tanh(W1 H^T): one attention distribution per label."""

    def __init__(self, dim: int, attention_dim: int, n_labels: int):
        super().__init__()
        self.first = nn.Linear(dim, attention_dim)
        self.second = nn.Linear(attention_dim, n_labels)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """states (B, T, 2k), mask (B, T) -> (B, q, 2k)."""
        scores = self.second(torch.tanh(self.first(states))).transpose(1, 2)  # (B, q, T)
        weights = masked_softmax(scores, mask.unsqueeze(1))
        return torch.bmm(weights, states)


class LabelAttention(nn.Module):
    """M_l = [C H_fwd^T H_fwd ; C H_bwd^T H_bwd] with trainable label embeddings C (q, k)."""

    def __init__(self, n_labels: int, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.labels = nn.Parameter(torch.randn(n_labels, hidden) / hidden ** 0.5)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """states (B, T, 2k) with zeros at padded steps -> (B, q, 2k)."""
        forward, backward = states[..., : self.hidden], states[..., self.hidden:]
        forward_scores = torch.einsum("qk,btk->bqt", self.labels, forward)
        backward_scores = torch.einsum("qk,btk->bqt", self.labels, backward)
        return torch.cat([torch.bmm(forward_scores, forward), torch.bmm(backward_scores, backward)], dim=-1)


class AdaptiveFusion(nn.Module):
    """Per label, alpha = sigmoid(M_s w1), beta = sigmoid(M_l w2), M = (alpha M_s + beta M_l) / (alpha + beta)."""

    def __init__(self, dim: int):
        super().__init__()
        self.self_gate = nn.Linear(dim, 1)
        self.label_gate = nn.Linear(dim, 1)

    def forward(self, from_content: torch.Tensor, from_labels: torch.Tensor) -> torch.Tensor:
        alpha = torch.sigmoid(self.self_gate(from_content))  # (B, q, 1)
        beta = torch.sigmoid(self.label_gate(from_labels))  # (B, q, 1)
        alpha = alpha / (alpha + beta)
        return alpha * from_content + (1.0 - alpha) * from_labels


class LSAN(nn.Module):
    def __init__(self, config: LSANConfig):
        super().__init__()
        c = config
        self.input_norm = nn.LayerNorm(c.input_dim)
        self.dropout = Dropout(c.dropout)
        self.encoder = MaskedLSTM(c.input_dim, c.hidden, layers=1, bidirectional=True)
        dim = self.encoder.output_dim  # 2k
        self.self_attention = LabelSpecificSelfAttention(dim, c.attention_dim, c.n_labels)
        self.label_attention = LabelAttention(c.n_labels, c.hidden)
        self.fusion = AdaptiveFusion(dim)
        self.output = nn.Sequential(nn.Linear(dim, c.output_hidden), nn.ReLU(), nn.Linear(c.output_hidden, 1))

    def forward(self, text: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """text (B, T, D), mask (B, T) -> logits (B, q)."""
        states, _ = self.encoder(self.dropout(self.input_norm(text)), mask)  # (B, T, 2k), zero at padding
        fused = self.fusion(self.self_attention(states, mask), self.label_attention(states))  # (B, q, 2k)
        return self.output(fused).squeeze(-1)
