"""Learned soft alignment of a sequence to a reference time axis (the "CTC module").

TAILOR and CARAT (after MulT's CTC module) align unaligned audio/vision to the text's time axis
with the same module: a 2-layer LSTM over the source frames predicts, for each
frame, a distribution over the reference positions plus a blank (class 0);
the aligned sequence at position p is the sum of the frames weighted by their
probability of belonging to p. CARAT trains it through the task loss only;
TAILOR adds a CTC loss on the returned log-probabilities.

Positions are fixed at construction (``max_steps``, the reference's longest
sequence in training); a caller may use only the first ``steps`` of them.
Padded source frames get zero weight.
"""

from __future__ import annotations

import torch
from torch import nn



class SoftAligner(nn.Module):
    """forward(x (B, T_src, D), mask (B, T_src), steps) -> (aligned (B, steps, D), log_probs (B, T_src, max_steps + 1))."""

    def __init__(self, input_dim: int, max_steps: int):
        super().__init__()
        self.max_steps = int(max_steps)
        self.norm = nn.LayerNorm(input_dim)
        # Unidirectional over right-padded input: the output at a valid step depends only on earlier
        # (valid) steps, so a plain LSTM equals a packed one there (padded outputs are zeroed below),
        # and its backward pass is ~50x faster on a CPU than a packed sequence's over 500 frames.
        self.position_predictor = nn.LSTM(input_dim, self.max_steps + 1, num_layers=2, batch_first=True)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
        if steps > self.max_steps:
            raise ValueError(f"cannot align to {steps} steps: this aligner was built for at most {self.max_steps}")
        valid = mask.unsqueeze(-1).to(x.dtype)
        x = self.norm(x) * valid
        scores, _ = self.position_predictor(x)  # (B, T_src, max_steps + 1)
        probabilities = torch.softmax(scores, dim=-1) * valid
        weights = probabilities[:, :, 1: steps + 1].transpose(1, 2)  # (B, steps, T_src), blank dropped
        return torch.bmm(weights, x), torch.log_softmax(scores, dim=-1)


def align_modalities(aligners: nn.ModuleDict, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor],
                     reference: str):
    """Align every modality that has an aligner to all of ``reference``'s positions (``max_steps``).

    -> (features, masks, log_probs). An aligned modality is valid at the
    reference's valid steps; for a sample without the reference modality, at
    every position (so its other modalities are not lost); a sample without
    the aligned modality itself keeps it missing. Using all positions, not the
    batch's longest reference, keeps each sample independent of its batch.
    Modalities without an aligner pass through unchanged.
    """
    aligned, aligned_masks, log_probs = dict(features), dict(masks), {}
    reference_mask = masks[reference]
    for m, aligner in aligners.items():
        steps = aligner.max_steps
        aligned[m], log_probs[m] = aligner(features[m], masks[m], steps)
        positions = torch.nn.functional.pad(reference_mask, (0, steps - reference_mask.shape[1]))[:, :steps]
        has_reference = reference_mask.any(dim=1, keepdim=True)
        valid_positions = torch.where(has_reference, positions, torch.ones_like(positions))
        aligned_masks[m] = valid_positions & masks[m].any(dim=1, keepdim=True)
    return aligned, aligned_masks, log_probs
