"""Frames of a faster modality grouped under the steps of a slower reference (words).

Unaligned MOSEI-style data carry text at word rate (50 steps) and audio or
vision at frame rate (e.g. 500 frames) with no word boundaries. Methods that
work per word (RAVEN's nonverbal sub-networks) or need one step per word
(Graph-MFN) assign each sample's valid frames to its valid words evenly:
word i of a sample with L_r words and L_s frames owns frames
[floor(i * L_s / L_r), floor((i + 1) * L_s / L_r)), and at least one frame
when L_s < L_r (neighbouring words then share a frame). With L_s = L_r
(aligned data) every word owns exactly its own frame. The rule is uniform
because the features carry no timestamps; it is what "equal lengths" means
once real word intervals are gone. Everything depends on the sample's own
lengths only, never on the batch.
"""

from __future__ import annotations

import torch


def span_index(reference_lengths: torch.Tensor, source_lengths: torch.Tensor, reference_steps: int):
    """Which source frames each reference step owns.

    reference_lengths, source_lengths (B,) long; -> (index (B, T_r, S) long,
    valid (B, T_r, S) bool) with T_r = ``reference_steps`` and S the longest span
    in the batch (at least 1). Invalid slots index frame 0.
    """
    ref = reference_lengths.clamp_min(1).unsqueeze(1).to(torch.long)  # (B, 1)
    src = source_lengths.unsqueeze(1).to(torch.long)  # (B, 1)
    word = torch.arange(reference_steps, device=ref.device).unsqueeze(0)  # (1, T_r)
    start = torch.div(word * src, ref, rounding_mode="floor")
    end = torch.maximum(torch.div((word + 1) * src, ref, rounding_mode="floor"), start + 1)
    start = torch.minimum(start, (src - 1).clamp_min(0))  # a short source: the last frame is shared
    end = torch.minimum(torch.maximum(end, start + 1), src)
    word_valid = (word < reference_lengths.unsqueeze(1)) & (src > 0)  # (B, T_r)
    width = (end - start).masked_fill(~word_valid, 0)
    slots = max(1, int(width.max()) if width.numel() else 1)
    offset = torch.arange(slots, device=ref.device).view(1, 1, -1)  # (1, 1, S)
    valid = (offset < width.unsqueeze(-1)) & word_valid.unsqueeze(-1)
    index = torch.where(valid, start.unsqueeze(-1) + offset, torch.zeros_like(offset))
    return index, valid


def gather_spans(x: torch.Tensor, index: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, T_s, D) frames -> (B, T_r, S, D) frames per reference step; invalid slots are zero."""
    batch, steps, slots = index.shape
    flat = index.reshape(batch, steps * slots, 1).expand(-1, -1, x.shape[-1])
    spans = x.gather(1, flat).view(batch, steps, slots, x.shape[-1])
    return spans * valid.unsqueeze(-1).to(x.dtype)


def span_mean(x: torch.Tensor, index: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T_s, D) -> (mean of each step's frames (B, T_r, D), step has a frame (B, T_r) bool)."""
    spans = gather_spans(x, index, valid)
    count = valid.sum(dim=-1, keepdim=True).to(x.dtype)  # (B, T_r, 1)
    return spans.sum(dim=2) / count.clamp_min(1.0), valid.any(dim=-1)
