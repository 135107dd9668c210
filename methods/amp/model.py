"""AMP (Ge et al., ACM MM 2023): adversarial masking and perturbation for multi-modal multi-label emotions.

1. Each modality: Linear + LayerNorm + dropout to d, then a unimodal
   Transformer (post-LN, as released).
2. A tri-modal Transformer over the concatenation of the unimodal sequences.
3. A label decoder: q learned label queries (self-attention among them, then
   attention to the tri-modal sequence), one sigmoid per label.
4. Adversarial masking: a scorer per modality rates each unimodal token; the
   scores pass a gradient reversal and a differentiable top-k
   (``soft_top_k.py``), and the selected projected input tokens are zeroed.
   The masked input runs through the same encoders and decoder. Through the
   reversal, the scorers learn to mask what the classifier needs most, while
   the classifier learns to do without it.
5. Adversarial weight perturbation of the tri-modal encoder and the KL
   consistency term live in the method (``method.py``): they need the clean
   loss's gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mmerbench_methods._blocks.attention import TransformerEncoder
from mmerbench_methods._blocks.crossmodal import CrossmodalLayer
from mmerbench_methods._blocks.dropout import Dropout
from mmerbench_methods._blocks.grad_reverse import grad_reverse
from mmerbench_methods.amp.soft_topk import soft_top_k


@dataclass
class AMPConfig:
    modality_dims: dict[str, int]
    n_labels: int
    dim: int = 512
    heads: int = 8
    encoder_layers: int = 3
    decoder_layers: int = 1
    feedforward: int = 1024
    dropout: float = 0.1
    mask_fraction: float = 0.48  # share of a sequence's valid tokens masked (released: 24 of 50)
    reverse_scale: float = 0.1  # gradient reversal scale on the scores (released: 0.1)
    topk_epsilon: float = 0.1  # entropic regularisation of the soft top-k (released: 0.1)
    topk_iterations: int = 100  # Sinkhorn iterations (released: 100)


class AMP(nn.Module):
    def __init__(self, config: AMPConfig):
        super().__init__()
        self.config = config
        self.modalities = list(config.modality_dims)
        d = config.dim
        self.project = nn.ModuleDict({
            m: nn.Sequential(nn.Linear(k, d), nn.LayerNorm(d), Dropout(config.dropout))
            for m, k in config.modality_dims.items()})
        self.unimodal = nn.ModuleDict({
            m: TransformerEncoder(d, config.heads, config.encoder_layers, config.feedforward, config.dropout,
                                  norm_first=False) for m in self.modalities})
        self.unimodal_norm = nn.ModuleDict({m: nn.LayerNorm(d) for m in self.modalities})
        self.trimodal = TransformerEncoder(d, config.heads, config.encoder_layers, config.feedforward,
                                           config.dropout, norm_first=False)
        self.trimodal_norm = nn.LayerNorm(d)
        self.scorer = nn.ModuleDict({m: nn.Sequential(nn.Linear(d, 1), nn.Sigmoid()) for m in self.modalities})
        self.label_queries = nn.Parameter(torch.randn(config.n_labels, d) * d ** -0.5)
        self.decoder = nn.ModuleList([
            CrossmodalLayer(d, config.heads, config.feedforward, config.dropout, config.dropout, config.dropout,
                            norm_first=False, self_attention=True) for _ in range(config.decoder_layers)])
        self.decoder_norm = nn.LayerNorm(d)
        self.classifier = nn.Linear(d, 1)

    def classify(self, tokens: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]):
        """Projected tokens -> (probabilities (B, q), unimodal features {m: (B, T_m, d)})."""
        keep = {m: masks[m].unsqueeze(-1).to(tokens[m].dtype) for m in self.modalities}
        features = {m: self.unimodal_norm[m](self.unimodal[m](tokens[m], masks[m])) * keep[m]
                    for m in self.modalities}
        sequence = torch.cat([features[m] for m in self.modalities], dim=1)  # (B, sum T_m, d)
        sequence_mask = torch.cat([masks[m] for m in self.modalities], dim=1)
        memory = self.trimodal_norm(self.trimodal(sequence, sequence_mask))
        batch = sequence.shape[0]
        queries = self.label_queries.unsqueeze(0).expand(batch, -1, -1)
        query_mask = torch.ones(batch, queries.shape[1], dtype=torch.bool, device=queries.device)
        for layer in self.decoder:
            queries = layer(queries, query_mask, memory, sequence_mask)
        logits = self.classifier(self.decoder_norm(queries)).squeeze(-1)  # (B, q)
        return torch.sigmoid(logits), features

    def adversarial_masks(self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]):
        """{m: (B, T_m) soft indicators of the tokens to mask}; scorer gradients arrive reversed."""
        selected = {}
        for m in self.modalities:
            scores = self.scorer[m](features[m]).squeeze(-1)  # (B, T_m) in (0, 1)
            scores = grad_reverse(scores, self.config.reverse_scale)
            k = torch.floor(self.config.mask_fraction * masks[m].sum(dim=1).to(scores.dtype))
            selected[m] = soft_top_k(scores, masks[m], k, self.config.topk_epsilon, self.config.topk_iterations)
        return selected

    def forward(self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor], with_masked: bool = False):
        """-> probabilities (B, q); with ``with_masked`` also the masked view's (B, q) and the masks."""
        tokens = {m: self.project[m](features[m]) for m in self.modalities}
        probabilities, unimodal = self.classify(tokens, masks)
        if not with_masked:
            return probabilities
        selected = self.adversarial_masks(unimodal, masks)
        masked_tokens = {m: (1.0 - selected[m]).unsqueeze(-1) * tokens[m] for m in self.modalities}
        masked_probabilities, _ = self.classify(masked_tokens, masks)
        return probabilities, masked_probabilities, selected
