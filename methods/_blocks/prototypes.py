"""Per-label prototypes of the "present" and "absent" states, updated by momentum.

CARAT (Peng et al., AAAI 2024) keeps, for every label j, a prototype of the
latent features of samples that have j (positive) and of samples that do not
(negative). After each training step every sample i updates, in batch order,

    proto[j] <- m * proto[j] + (1 - m) * f[i, j]        (m = 0.99)

the positive prototype when y[i, j] = 1, the negative one otherwise. The
released code does this in a Python double loop; ``update`` computes the same
result in closed form: with k samples updating one prototype, in order
r = 0..k-1,

    proto <- m^k * proto + (1 - m) * sum_r m^(k-1-r) * f_r.

Prototypes are buffers in the state dict (persistent), so the best epoch's
weights and its prototypes are saved and restored together. They start at
zero as in the released code.
"""

from __future__ import annotations

import torch
from torch import nn


class MomentumPrototypes(nn.Module):
    """Positive and negative prototypes (q, dim) per label, updated by momentum."""

    def __init__(self, n_labels: int, dim: int, momentum: float = 0.99):
        super().__init__()
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"prototype momentum must be in [0, 1), got {momentum}")
        self.momentum = float(momentum)
        self.register_buffer("positive", torch.zeros(n_labels, dim))
        self.register_buffer("negative", torch.zeros(n_labels, dim))

    def stacked(self) -> torch.Tensor:
        """(2, q, dim): index 0 = positive (label present), 1 = negative."""
        return torch.stack([self.positive, self.negative])

    @torch.no_grad()
    def update(self, features: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor | None = None) -> None:
        """features (B, q, dim) (detached use), labels (B, q) in {0, 1}, valid (B,) bool rows allowed to update."""
        features = features.detach().to(self.positive.dtype)
        present = labels > 0.5  # (B, q)
        allowed = torch.ones_like(present) if valid is None else valid.to(torch.bool).unsqueeze(1).expand_as(present)
        self.positive.copy_(self._moved(self.positive, features, present & allowed))
        self.negative.copy_(self._moved(self.negative, features, ~present & allowed))

    def _moved(self, prototypes: torch.Tensor, features: torch.Tensor, selected: torch.Tensor) -> torch.Tensor:
        m = self.momentum
        chosen = selected.to(features.dtype)  # (B, q)
        count = chosen.sum(0)  # (q,): k per label
        rank = chosen.cumsum(0) - 1.0  # (B, q): r of each selected sample
        weight = (1.0 - m) * torch.pow(torch.full_like(rank, m), (count - 1.0 - rank).clamp_min(0.0)) * chosen
        return torch.pow(torch.full_like(count, m), count).unsqueeze(1) * prototypes + torch.einsum(
            "bq,bqd->qd", weight, features)
