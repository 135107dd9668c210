"""Masked reductions over time. Masks are (B, T) bool, True at valid steps."""

from __future__ import annotations

import torch


def unpadded_on_cpu(mask: torch.Tensor) -> bool:
    """True when every step of a CPU (B, T) mask is valid: masking and zeroing may then be skipped.

    Skipping changes no number (a mask of zeros added to scores, values filled nowhere, outputs
    multiplied by 1), and saves passes over (B, T, D) tensors in forward and backward. Reading the
    mask would make an accelerator wait for it, so there the answer is always False.
    """
    return mask.device.type == "cpu" and bool(mask.all())


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over valid steps: (B, T, D) -> (B, D); an all-missing row gives zeros."""
    weights = mask.to(x.dtype).unsqueeze(-1)  # (B, T, 1)
    return (x * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


def masked_max(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Max over valid steps: (B, T, D) -> (B, D); an all-missing row gives zeros."""
    filled = x.masked_fill(~mask.unsqueeze(-1), float("-inf"))
    out = filled.max(dim=1).values
    return torch.where(torch.isfinite(out), out, torch.zeros_like(out))


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax that gives padded positions exactly zero weight.

    A row with no valid position (a missing modality) gets all zeros instead
    of NaN, so it contributes nothing downstream.
    """
    scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=dim)
    return torch.nan_to_num(weights, nan=0.0)


def last_valid(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The last valid step of each sequence: (B, T, D) -> (B, D) (zeros when none)."""
    lengths = mask.sum(dim=1)  # (B,)
    index = (lengths - 1).clamp_min(0)
    picked = x[torch.arange(x.shape[0], device=x.device), index]
    return picked * (lengths > 0).to(x.dtype).unsqueeze(-1)
