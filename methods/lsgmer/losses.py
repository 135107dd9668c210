"""LSGMER's Attribution-Prediction Consistency (APC) term.

The paper: APC = JS(p_i || q_i), the Jensen-Shannon divergence between the
model's predictive distribution p_i and the distribution q_i =
softmax_j(cos(H_i, L_j) / temperature) of the fused feature's cosine
similarities to the label embeddings (the temperature is not published: a
named hyperparameter).

Multi-label mode (not in the paper, which is single-label): per label j the
prediction is a Bernoulli p_ij = sigmoid(logit_ij) and the attribution a
Bernoulli q_ij = sigmoid(cos(H_i, L_j) / temperature); APC is the JS
divergence of each pair of Bernoullis, averaged over labels and samples.
Nothing is detached: APC pulls the prediction towards the attribution and the
fused feature and label embeddings towards agreeing with the prediction.
"""

from __future__ import annotations

import math

import torch

EPS = 1e-8


def jensen_shannon(p: torch.Tensor, q: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """JS divergence (natural log, in [0, log 2]) between distributions along ``dim`` -> reduced tensor."""
    p, q = p.float(), q.float()
    m = 0.5 * (p + q)

    def kl(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a * (torch.log(a.clamp_min(EPS)) - torch.log(b.clamp_min(EPS)))).sum(dim=dim)

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def apc_loss(logits: torch.Tensor, similarity: torch.Tensor, mode: str, temperature: float) -> torch.Tensor:
    """logits and cosine similarities (B, q) -> scalar APC for 'single' (softmax) or 'multi' (per label)."""
    scaled = similarity.float() / float(temperature)
    if mode == "single":
        return jensen_shannon(torch.softmax(logits.float(), dim=1), torch.softmax(scaled, dim=1)).mean()
    p, q = torch.sigmoid(logits.float()), torch.sigmoid(scaled)
    bernoulli = lambda x: torch.stack([x, 1.0 - x], dim=-1)  # noqa: E731  (B, q, 2)
    return jensen_shannon(bernoulli(p), bernoulli(q)).mean()


MAX_JS = math.log(2.0)  # the divergence's upper bound (disjoint supports), for tests and docs
