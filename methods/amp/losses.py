"""Asymmetric loss (Ridnik et al., ICCV 2021), the multi-label loss of AMP's released code.

    L = - sum_j [ y_j (1 - p_j)^gamma_pos log p_j + (1 - y_j) p_m,j^gamma_neg log(1 - p_m,j) ]
    p_m = max(p - clip, 0)

Negatives are down-weighted (gamma_neg > gamma_pos) and very easy negatives
(p < clip) are discarded, which suits label sets where most labels are
absent. The released ``train_mmer.py`` uses ``AsymmetricLossOptimized``,
which reduces the summed loss as sum / (batch x labels) x 1000
(``scale="released"``); ``scale="per-sample"`` is the sum over labels
averaged over samples (sum / batch, the library's usual form). With Adam the
overall scale hardly matters by itself; what it changes is the balance with
the terms added to it (AMP's KL consistency term is not rescaled), which is
1000 / q times stronger relative to the classification loss under
"per-sample" (about 167x for MOSEI's q = 6).
"""

from __future__ import annotations

import torch

SCALES = ("released", "per-sample")


def asymmetric_loss(probabilities: torch.Tensor, targets: torch.Tensor, gamma_neg: float = 2.0,
                    gamma_pos: float = 1.0, clip: float = 0.05, eps: float = 1e-8,
                    scale: str = "released") -> torch.Tensor:
    p = probabilities
    p_negative = (p - clip).clamp_min(0.0) if clip > 0 else p
    positive = targets * torch.log(p.clamp_min(eps)) * (1.0 - p) ** gamma_pos
    negative = (1.0 - targets) * torch.log((1.0 - p_negative).clamp_min(eps)) * p_negative ** gamma_neg
    per_sample = -(positive + negative).sum(dim=1)  # (B,)
    if scale == "per-sample":
        return per_sample.mean()
    if scale == "released":
        return per_sample.mean() / p.shape[1] * 1000.0
    raise ValueError(f"scale={scale!r}: use one of {SCALES}")
