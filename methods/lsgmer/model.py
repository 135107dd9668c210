"""LSGMER: Label Signal-Guided Multimodal Emotion Recognition (Shao, Yu and Wang, arXiv 2504.05158).

No public code exists; this follows the paper's equations as far as they are
published and makes every open choice a field below (the method's docstring
says why each default was chosen). Reads top to bottom, per used modality m
(audio and text in the paper; vision too with ``use_vision``), q labels, width d:

1. H0_m = Linear(LayerNorm(x_m))                                   (B, T_m, d)
   H1_m = Transformer encoder over H0_m (``_blocks.encoders``)      (B, T_m, d)
2. Label Signal Enhancement, with label embeddings L (q, d) shared by the
   modalities as queries (one multi-head attention per modality, padded
   frames masked: ``_blocks.attention``, on ``scaled_dot_product_attention``):
      H2_m = Attention(query = L, key = value = H1_m)                (B, q, d)
   The paper's features are one vector per utterance, so in its equations
   w_m = sigmoid(H2_m) and H_m = w_m * H0_m + H2_m have one row per label.
   On frame sequences H0_m has one row per frame, and ``gate_reduction``
   says how the two shapes meet:
      "per-label" (default: the equations as written) h0_m = mean of H0_m
               over valid frames (the utterance vector the paper starts from);
               H_m = sigmoid(H2_m) * h0_m + H2_m                     (B, q, d)
               one row per label, so label identity survives to the classifier
      "mean"   E_m = mean over labels of H2_m, broadcast over frames (B, 1, d)
      "max"    E_m = max over labels of H2_m                         (B, 1, d)
      "frames" E_m = Attention(query = H1_m, key = value = H2_m): each
               frame reads the label-enhanced vectors                (B, T_m, d)
   (for these three: gate w_m = sigmoid(E_m);  H_m = w_m * H0_m + E_m   (B, T_m, d).
   They average or pool the label rows away before the classifier, so the
   prediction is unchanged when the label embeddings are permuted: label
   identity then enters only through APC.)
3. "per-label": fused_j = Dropout(ReLU(Linear([H_audio,j; H_text,j (; H_vision,j)])))  (B, q, d)
   and logit_j = w_j . fused_j + b_j (one classifier row per label)  (B, q)
   pooled reductions: h_m = mean of H_m over valid frames             (B, d)
   fused = Dropout(ReLU(Linear([h_audio; h_text (; h_vision)])))    (B, d)
   logits = Linear(fused)                                            (B, q)
4. APC (in the method): cosine similarity of the fused feature with each
   label embedding, cos(fused, L_j), or cos(fused_j, L_j) per label row (B, q)

Aligned and unaligned input alike: every modality is encoded and attended on
its own time axis and only pooled vectors meet, so lengths may differ (no
alignment or CTC). A sample missing a modality (no valid frame) has H_m = 0 and h_m = 0: its
label attention has nothing to read (the shared block's padding rule: no NaN,
a zero result).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from mmerbench_methods._blocks.attention import MultiheadAttention, masked_attention
from mmerbench_methods._blocks.dropout import Dropout
from mmerbench_methods._blocks.encoders import ModalityEncoder
from mmerbench_methods._blocks.masking import masked_mean

GATE_REDUCTIONS = ("per-label", "mean", "max", "frames")


@dataclass
class LSGMERConfig:
    modality_dims: dict[str, int] = field(default_factory=dict)  # the used modalities -> raw feature size
    n_labels: int = 6
    hidden: int = 128  # d: frames, label embeddings and the fused feature share it (APC compares them)
    layers: int = 2  # Transformer layers per modality (H1)
    heads: int = 4  # in the encoders and in the label attention
    feedforward: int = 256
    dropout: float = 0.1
    gate_reduction: str = "per-label"  # how (B, q, d) label-enhanced rows become the gate's shape; see step 2
    max_steps: int = 4096


class LabelSignalEnhancement(nn.Module):
    """Step 2 for one modality: label queries over its frames, then the sigmoid-gated mix."""

    def __init__(self, dim: int, heads: int, dropout: float, gate_reduction: str):
        super().__init__()
        if gate_reduction not in GATE_REDUCTIONS:
            raise ValueError(f"gate_reduction={gate_reduction!r}: use one of {GATE_REDUCTIONS}")
        self.gate_reduction = gate_reduction
        self.attention = MultiheadAttention(dim, heads, dropout)

    def forward(self, labels: torch.Tensor, h0: torch.Tensor, h1: torch.Tensor, mask: torch.Tensor):
        """labels (q, d), h0 and h1 (B, T, d), mask (B, T) -> (H, H2 (B, q, d)); H is (B, q, d) for
        "per-label", else (B, T, d)."""
        batch = h1.shape[0]
        queries = labels.unsqueeze(0).expand(batch, -1, -1)  # (B, q, d)
        h2 = self.attention(queries, h1, h1, mask)  # (B, q, d); 0 for a missing modality
        if self.gate_reduction == "per-label":
            utterance = masked_mean(h0, mask).unsqueeze(1)  # (B, 1, d); 0 for a missing modality
            return torch.sigmoid(h2) * utterance + h2, h2  # (B, q, d)
        if self.gate_reduction == "mean":
            enhanced = h2.mean(dim=1, keepdim=True)  # (B, 1, d)
        elif self.gate_reduction == "max":
            enhanced = h2.max(dim=1, keepdim=True).values  # (B, 1, d)
        else:  # "frames": every frame reads the q label-enhanced vectors
            enhanced = masked_attention(h1.unsqueeze(1), h2.unsqueeze(1), h2.unsqueeze(1), None).squeeze(1)  # (B, T, d)
        gate = torch.sigmoid(enhanced)
        out = gate * h0 + enhanced  # (B, T, d)
        return out * mask.unsqueeze(-1).to(out.dtype), h2


class LSGMER(nn.Module):
    def __init__(self, config: LSGMERConfig):
        super().__init__()
        self.config = c = config
        self.modalities = list(c.modality_dims)
        d = c.hidden
        self.inputs = nn.ModuleDict({
            m: nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, d)) for m, dim in c.modality_dims.items()
        })
        self.encoders = nn.ModuleDict({
            m: ModalityEncoder(d, d, c.layers, c.heads, c.dropout, c.feedforward, c.max_steps) for m in self.modalities
        })
        # One set of label embeddings for all modalities (the paper's L_s); the method moves it
        # by a moving average after each optimiser step.
        self.label_embeddings = nn.Parameter(torch.randn(c.n_labels, d) / d ** 0.5)
        self.enhance = nn.ModuleDict({
            m: LabelSignalEnhancement(d, c.heads, c.dropout, c.gate_reduction) for m in self.modalities
        })
        self.fusion = nn.Linear(d * len(self.modalities), d)
        self.dropout = Dropout(c.dropout)
        self.classifier = nn.Linear(d, c.n_labels)

    def forward(self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """-> logits (B, q), similarity (B, q) and fused: (B, q, d) for "per-label", else (B, d)."""
        per_label = self.config.gate_reduction == "per-label"
        parts = []
        for m in self.modalities:
            h0 = self.inputs[m](features[m])  # (B, T_m, d)
            h1 = self.encoders[m](h0, masks[m])  # (B, T_m, d)
            enhanced, _ = self.enhance[m](self.label_embeddings, h0, h1, masks[m])  # (B, q, d) or (B, T_m, d)
            parts.append(enhanced if per_label else masked_mean(enhanced, masks[m]))
        fused = self.dropout(F.relu(self.fusion(torch.cat(parts, dim=-1))))  # (B, q, d) or (B, d)
        if per_label:
            logits = (fused * self.classifier.weight).sum(dim=-1) + self.classifier.bias  # row j scores label j
            similarity = F.cosine_similarity(fused, self.label_embeddings.unsqueeze(0), dim=-1)  # (B, q)
        else:
            logits = self.classifier(fused)  # (B, q)
            similarity = F.cosine_similarity(fused.unsqueeze(1), self.label_embeddings.unsqueeze(0), dim=-1)
        return {"logits": logits, "fused": fused, "similarity": similarity}
