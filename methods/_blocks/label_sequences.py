"""Label sets as sequences, for decoders that emit one label per step (SGM, MMS2S).

Vocabulary: the q labels (ids 0..q-1), EOS (id q), BOS (id q + 1, input only).
A set is written in a fixed order -- most frequent label in training first,
ties by label index (SGM's choice) -- then EOS, then -100 padding.

Probabilities of a decoded set (a decoder has no per-label score of its own):
with e_j = 1 when label j was emitted and p_j its highest softmax
probability over the steps up to and including EOS,
``0.5 * e_j + 0.5 * p_j`` puts emitted labels in (0.5, 1] and the others in
[0, 0.5], so threshold 0.5 returns exactly the decoded set.
"""

from __future__ import annotations

import numpy as np
import torch


def frequency_order(labels: np.ndarray) -> np.ndarray:
    """(N, q) training labels -> label ids, most frequent first (ties by index)."""
    labels = np.asarray(labels)
    frequency = labels.sum(axis=0)
    return np.lexsort((np.arange(labels.shape[1]), -frequency)).astype(np.int64)


def label_sequences(labels: torch.Tensor, order: np.ndarray) -> torch.Tensor:
    """(B, q) multi-hot -> (B, max_set + 1) label ids in ``order``, EOS, then -100 padding."""
    order = torch.as_tensor(order, device=labels.device)
    present = labels[:, order] > 0.5  # (B, q) in sequence order
    q = labels.shape[1]
    length = int(present.sum(1).max()) + 1 if len(labels) else 1
    # Stable sort puts present labels first, keeping the frequency order among them.
    rank = torch.argsort((~present).to(torch.int8), dim=1, stable=True)  # (B, q)
    ids = order[rank]  # (B, q)
    counts = present.sum(1)  # (B,)
    positions = torch.arange(q + 1, device=labels.device).unsqueeze(0)  # (1, q + 1)
    padded = torch.cat([ids, torch.full_like(ids[:, :1], q)], dim=1)  # (B, q + 1)
    sequence = torch.where(positions < counts.unsqueeze(1), padded, torch.full_like(padded, -100))
    sequence = torch.where(positions == counts.unsqueeze(1), torch.full_like(padded, q), sequence)  # EOS
    return sequence[:, :length]


def set_probabilities(emitted: torch.Tensor, best: torch.Tensor) -> torch.Tensor:
    """emitted (B, q) bool, best (B, q) -> per-label scores in [0, 1] (see the module docstring)."""
    return 0.5 * emitted.to(best.dtype) + 0.5 * best
