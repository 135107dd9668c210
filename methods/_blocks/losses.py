"""Loss functions that shared-private (disentangling) methods use.

- :func:`cmd`: Central Moment Discrepancy (Zellinger et al., 2017), as MISA
  computes it: the distance between two batches' means plus the distances
  between their central moments of order 2..K (no interval scaling).
- :func:`difference_loss`: MISA's soft orthogonality between two batches of
  vectors (squared Frobenius norm of the correlation of their centred,
  L2-normalised rows), pushing shared and private parts apart.
- :func:`sequence_orthogonality_loss`: TAILOR's orthogonality between two
  feature sequences of one sample (||A B^T||_F^2 over time steps), averaged
  over the batch.
"""

from __future__ import annotations

import torch


def _distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # linalg.vector_norm has gradient 0 at 0 (a bare sqrt would give NaN when
    # two batches agree exactly, e.g. when a modality is missing in all samples).
    return torch.linalg.vector_norm(a - b)


def cmd(x1: torch.Tensor, x2: torch.Tensor, moments: int = 5) -> torch.Tensor:
    """Central Moment Discrepancy between two batches (N, D) and (M, D) -> scalar.

    ``||E x1 - E x2|| + sum_{k=2..moments} ||E (x1 - E x1)^k - E (x2 - E x2)^k||``
    """
    if x1.dim() != 2 or x2.dim() != 2 or x1.shape[1] != x2.shape[1]:
        raise ValueError(f"cmd needs two (N, D) batches with the same D; got {tuple(x1.shape)} and {tuple(x2.shape)}")
    if moments < 1:
        raise ValueError(f"cmd needs moments >= 1, got {moments}")
    mean1, mean2 = x1.mean(0), x2.mean(0)
    centred1, centred2 = x1 - mean1, x2 - mean2
    total = _distance(mean1, mean2)
    for order in range(2, moments + 1):
        total = total + _distance(centred1.pow(order).mean(0), centred2.pow(order).mean(0))
    return total


def difference_loss(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """MISA's soft orthogonality between batches (B, D1) and (B, D2) -> scalar.

    Rows are centred over the batch and scaled to unit length (the norm is
    treated as a constant, as MISA does), then the loss is the mean squared
    entry of the (D1, D2) matrix ``A^T B``.
    """
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"difference_loss needs the same batch size; got {a.shape[0]} and {b.shape[0]}")
    a = a.reshape(a.shape[0], -1)
    b = b.reshape(b.shape[0], -1)
    a = a - a.mean(0, keepdim=True)
    b = b - b.mean(0, keepdim=True)
    a = a / (a.norm(dim=1, keepdim=True).detach() + eps)
    b = b / (b.norm(dim=1, keepdim=True).detach() + eps)
    return (a.t() @ b).pow(2).mean()


def sequence_orthogonality_loss(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """TAILOR's orthogonality of two aligned sequences (B, T, D) -> scalar.

    Per sample ``||A B^T||_F^2`` (every pair of time steps), averaged over the
    batch. Steps where ``mask`` (B, T) is False are zeroed first so padding
    adds nothing.
    """
    if a.shape != b.shape:
        raise ValueError(f"sequence_orthogonality_loss needs equal shapes; got {tuple(a.shape)} and {tuple(b.shape)}")
    if mask is not None:
        keep = mask.unsqueeze(-1).to(a.dtype)
        a, b = a * keep, b * keep
    gram = torch.bmm(a, b.transpose(1, 2))  # (B, T, T)
    return gram.pow(2).sum(dim=(1, 2)).mean()
