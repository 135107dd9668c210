"""MCUR: Modality-Aware Contrastive and Uncertainty-Regularized emotion recognition
(Zhuang, Liu, Zhang, Deng and Ren, arXiv 2605.06245). No public code.

The network is what the method needs and the paper's published summary
leaves open (each choice is a config field; the method's docstring says why):

1. Per modality m: Transformer encoder over its frames (``_blocks.encoders``)
   -> (B, T_m, d), pooled to an utterance vector u_m (B, d): a learned query
   attending over the valid frames (``pooling="attention"``, through
   ``_blocks.attention``) or their mean (``pooling="mean"``).
2. A modality combination is a non-empty subset of the modalities
   (7 for text, audio, vision), written as a bit mask (bit i = modality i).
   A *view* of a sample is the sample seen through one combination: the
   fusion reads u_m for the modalities in the combination and a stand-in for
   the others -- a learned "missing" vector per modality
   (``missing_fill="learned"``) or zeros ("zero"), so the fusion knows which
   modalities it has. Encoders run once per sample; only fusion and heads
   run once per view.
3. fused = MLP([x_1; ..; x_M]) (B_views, d); logits = Linear(fused) (q);
   z = normalize(MLP(fused)) (p), the embedding the contrastive loss compares.

At prediction time a sample has one view: the modalities it actually has.
Aligned and unaligned input alike: modalities meet only as pooled vectors,
so their lengths may differ (no alignment or CTC).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from mmerbench_methods._blocks.attention import key_padding_fallback, masked_attention
from mmerbench_methods._blocks.dropout import Dropout
from mmerbench_methods._blocks.encoders import ModalityEncoder
from mmerbench_methods._blocks.masking import masked_mean

POOLINGS = ("attention", "mean")
MISSING_FILLS = ("learned", "zero")


@dataclass
class MCURConfig:
    modality_dims: dict[str, int] = field(default_factory=dict)  # modality -> raw feature size, dataset order
    n_labels: int = 6
    hidden: int = 128  # d
    layers: int = 2
    heads: int = 4
    feedforward: int = 256
    dropout: float = 0.1
    projection: int = 64  # p: size of the contrastive embedding
    pooling: str = "attention"
    missing_fill: str = "learned"
    max_steps: int = 4096


def all_combinations(n_modalities: int) -> torch.Tensor:
    """Every non-empty subset of n modalities as (K, n) bool rows, K = 2^n - 1, smallest subsets first."""
    rows = [subset for size in range(1, n_modalities + 1)
            for subset in itertools.combinations(range(n_modalities), size)]
    table = torch.zeros(len(rows), n_modalities, dtype=torch.bool)
    for k, subset in enumerate(rows):
        table[k, list(subset)] = True
    return table


def combination_ids(combinations: torch.Tensor) -> torch.Tensor:
    """(V, M) bool -> (V,) long bit masks (bit i set when modality i is in the combination)."""
    powers = 2 ** torch.arange(combinations.shape[1], device=combinations.device)
    return (combinations.long() * powers).sum(dim=1)


class AttentionPooling(nn.Module):
    """A learned query reads the valid frames: (B, T, d), (B, T) -> (B, d); 0 when none is valid."""

    def __init__(self, dim: int):
        super().__init__()
        self.query = nn.Parameter(torch.randn(1, 1, dim) / dim ** 0.5)
        self.key = nn.Linear(dim, dim)

    def forward(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        attendable, has_key = key_padding_fallback(mask)  # the shared padding rule: no NaN, zeroed below
        query = self.query.expand(frames.shape[0], -1, -1).unsqueeze(1)  # (B, 1 head, 1, d)
        pooled = masked_attention(query, self.key(frames).unsqueeze(1), frames.unsqueeze(1), attendable)
        return pooled[:, 0, 0] * has_key.unsqueeze(1).to(frames.dtype)  # (B, d)


class MCUR(nn.Module):
    def __init__(self, config: MCURConfig):
        super().__init__()
        self.config = c = config
        self.modalities = list(c.modality_dims)
        d = c.hidden
        self.encoders = nn.ModuleDict({
            m: ModalityEncoder(dim, d, c.layers, c.heads, c.dropout, c.feedforward, c.max_steps)
            for m, dim in c.modality_dims.items()
        })
        self.pooling = nn.ModuleDict({m: AttentionPooling(d) for m in self.modalities}) if c.pooling == "attention" \
            else None
        self.missing = nn.Parameter(torch.zeros(len(self.modalities), d), requires_grad=c.missing_fill == "learned")
        if c.missing_fill == "learned":
            nn.init.normal_(self.missing, std=d ** -0.5)
        self.fusion = nn.Sequential(nn.Linear(d * len(self.modalities), d), nn.ReLU(), Dropout(c.dropout),
                                    nn.Linear(d, d), nn.ReLU())
        self.classifier = nn.Linear(d, c.n_labels)
        self.projector = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, c.projection))

    def utterances(self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]):
        """-> u (B, M, d) and available (B, M) bool (the modality has a valid frame)."""
        vectors, available = [], []
        for m in self.modalities:
            frames = self.encoders[m](features[m], masks[m])  # (B, T_m, d)
            pooled = self.pooling[m](frames, masks[m]) if self.pooling is not None else masked_mean(frames, masks[m])
            vectors.append(pooled)
            available.append(masks[m].any(dim=1))
        return torch.stack(vectors, dim=1), torch.stack(available, dim=1)

    def fuse(self, u: torch.Tensor, combinations: torch.Tensor) -> dict[str, torch.Tensor]:
        """u (V, M, d) of each view's sample and its combination (V, M) bool -> logits (V, q), z (V, p)."""
        stand_in = self.missing.unsqueeze(0).expand_as(u)  # (V, M, d)
        x = torch.where(combinations.unsqueeze(-1), u, stand_in)
        fused = self.fusion(x.reshape(x.shape[0], -1))  # (V, d)
        return {"logits": self.classifier(fused), "z": F.normalize(self.projector(fused), dim=-1)}

    def forward(self, features, masks) -> dict[str, torch.Tensor]:
        """Prediction: each sample through the combination of modalities it has."""
        u, available = self.utterances(features, masks)
        return self.fuse(u, available)
