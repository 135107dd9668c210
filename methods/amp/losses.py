"""Asymmetric loss (Ridnik et al., ICCV 2021), the multi-label loss of AMP's released code.

    L = - sum_j [ y_j (1 - p_j)^gamma_pos log p_j + (1 - y_j) p_m,j^gamma_neg log(1 - p_m,j) ]
    p_m = max(p - clip, 0)

Negatives are down-weighted (gamma_neg > gamma_pos) and very easy negatives
(p < clip) are discarded, which suits label sets where most labels are
absent. Summed over labels, averaged over samples (the code sums over the
batch too; with Adam that only rescales the step size's relation to eps).
"""

from __future__ import annotations

import torch


def asymmetric_loss(probabilities: torch.Tensor, targets: torch.Tensor, gamma_neg: float = 2.0,
                    gamma_pos: float = 1.0, clip: float = 0.05, eps: float = 1e-8) -> torch.Tensor:
    p = probabilities
    p_negative = (p - clip).clamp_min(0.0) if clip > 0 else p
    positive = targets * torch.log(p.clamp_min(eps)) * (1.0 - p) ** gamma_pos
    negative = (1.0 - targets) * torch.log((1.0 - p_negative).clamp_min(eps)) * p_negative ** gamma_neg
    return -(positive + negative).sum(dim=1).mean()
