"""ML-GCN: multi-label classification with graph convolutional networks (Chen et al., CVPR 2019).

Two parts, as in the paper:

- an input encoder giving one feature vector per sample. The paper uses a
  ResNet-101 with global max pooling; here every modality goes through a
  Transformer encoder (``ModalityEncoder``; ``encoder_layers=0`` reduces it to
  LayerNorm + projection, i.e. pooled raw features), is max-pooled over its
  valid steps, and the modalities are concatenated:  x (B, F = M * dim);
- a GCN over the label graph that turns label embeddings (q, d_in) into one
  classifier per label (q, F):  W = GCN2(LeakyReLU(GCN1(E, A)), A), and the
  scores are y = x W^T (B, q).

The graph A is the re-weighted, normalised co-occurrence matrix of the
training labels (``_blocks/graph.py``). The paper feeds GloVe vectors of the
label names; a features-based benchmark has no label words, so each label
gets a fixed random vector (seeded, not trained): the GCN's weights still
learn any classifier, and the graph still ties the classifiers of labels that
co-occur.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from mmerbench_methods._blocks.encoders import ModalityEncoder
from mmerbench_methods._blocks.graph import GraphConvolution
from mmerbench_methods._blocks.masking import masked_max


@dataclass
class MLGCNConfig:
    modality_dims: dict[str, int] = field(default_factory=dict)  # ordered modality -> feature size
    n_labels: int = 6
    dim: int = 256  # per-modality encoder width; the feature is len(modalities) * dim
    encoder_layers: int = 2
    heads: int = 8
    dropout: float = 0.1
    # dropout on the encoders' attention probabilities alone (residual dropout stays ``dropout``): at 0
    # the fused attention kernels apply, so no (B, heads, T, T) map is built on CPU (500-frame inputs)
    attention_dropout: float = 0.0
    label_embedding_dim: int = 300  # d_in (GloVe size in the paper)
    gcn_hidden: int = 1024  # (paper: 300 -> 1024 -> feature size)
    negative_slope: float = 0.2  # LeakyReLU between the GCN layers (paper: 0.2)


class MLGCN(nn.Module):
    def __init__(self, config: MLGCNConfig, adjacency: torch.Tensor):
        super().__init__()
        c = config
        self.modalities = list(c.modality_dims)
        self.encoders = nn.ModuleDict({
            m: ModalityEncoder(d, c.dim, c.encoder_layers, c.heads, c.dropout, attention_dropout=c.attention_dropout)
            for m, d in c.modality_dims.items()
        })
        feature_dim = c.dim * len(self.modalities)
        self.register_buffer("adjacency", adjacency.float())  # (q, q), from training labels only
        self.register_buffer("label_inputs", torch.randn(c.n_labels, c.label_embedding_dim))  # fixed
        self.gcn1 = GraphConvolution(c.label_embedding_dim, c.gcn_hidden)
        self.gcn2 = GraphConvolution(c.gcn_hidden, feature_dim)
        self.activation = nn.LeakyReLU(c.negative_slope)

    def classifiers(self) -> torch.Tensor:
        """(q, F): one classifier per label, produced by the GCN over the label graph."""
        hidden = self.activation(self.gcn1(self.label_inputs, self.adjacency))
        return self.gcn2(hidden, self.adjacency)

    def features(self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per modality: encode, max-pool over valid steps (zeros when missing); concatenate -> (B, F)."""
        pooled = [masked_max(self.encoders[m](features[m], masks[m]), masks[m]) for m in self.modalities]
        return torch.cat(pooled, dim=-1)

    def forward(self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> torch.Tensor:
        """-> logits (B, q)."""
        return self.features(features, masks) @ self.classifiers().T
