"""Label graphs: a co-occurrence adjacency built from training labels, and a GCN layer.

ML-GCN (Chen et al., CVPR 2019, section 3.4) builds its correlation matrix from
the training label matrix Y (N, q):

    M_ij  = #samples with labels i and j            N_i = #samples with label i
    P_ij  = P(L_j | L_i) = M_ij / N_i              (0 when N_i = 0)
    A_ij  = 1[P_ij >= tau]  for i != j             (binarisation, tau = 0.4)
    A'_ij = p * A_ij / sum_{k != i} A_ik  (i != j),  A'_ii = 1 - p   (re-weighting, p = 0.2)
    A_hat = D^-1/2 A' D^-1/2,   D_ii = sum_j A'_ij  (symmetric normalisation)

A label with no neighbour above tau keeps only its self-loop (A'_ii = 1 - p),
which the normalisation turns into 1. Row i of A_hat tells label i which
labels it takes information from: those likely to appear when i does.

The released code (megvii-research/ML-GCN, ``gen_A``/``gen_adj``) differs from
the paper: it divides by column sums with p = 0.25, sets the diagonal to 1
instead of 1 - p, and uses the transpose D A^T D. We follow the paper's
equations; ``cooccurrence_adjacency`` exposes tau and p.

Other label-graph methods (HHMPN's co-occurrence prior) can reuse
``conditional_cooccurrence``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


def conditional_cooccurrence(labels: np.ndarray) -> np.ndarray:
    """P[i, j] = P(label j present | label i present), estimated from (N, q) binary labels."""
    y = np.asarray(labels, dtype=np.float64)
    if y.ndim != 2:
        raise ValueError(f"labels must be a (N, q) matrix, got shape {y.shape}")
    counts = y.T @ y  # (q, q): M_ij, with N_i on the diagonal
    per_label = np.diag(counts).copy()  # (q,)
    with np.errstate(divide="ignore", invalid="ignore"):
        conditional = np.where(per_label[:, None] > 0, counts / np.maximum(per_label[:, None], 1.0), 0.0)
    return conditional


def cooccurrence_adjacency(labels: np.ndarray, tau: float = 0.4, p: float = 0.2) -> np.ndarray:
    """ML-GCN's normalised correlation matrix A_hat (q, q) from training labels (see module doc)."""
    if not 0.0 <= tau <= 1.0:
        raise ValueError(f"tau={tau} must be in [0, 1]")
    if not 0.0 <= p < 1.0:
        raise ValueError(f"p={p} must be in [0, 1): it is the weight given to neighbours, 1 - p to the node itself")
    conditional = conditional_cooccurrence(labels)
    q = conditional.shape[0]
    off_diagonal = ~np.eye(q, dtype=bool)
    binary = ((conditional >= tau) & off_diagonal).astype(np.float64)  # A
    neighbours = binary.sum(axis=1, keepdims=True)  # (q, 1)
    reweighted = np.where(neighbours > 0, p * binary / np.maximum(neighbours, 1.0), 0.0)  # A', off-diagonal
    reweighted[np.eye(q, dtype=bool)] = 1.0 - p
    degree = reweighted.sum(axis=1)  # (q,) all > 0 because of the self-loop
    inverse_root = 1.0 / np.sqrt(degree)
    return reweighted * inverse_root[:, None] * inverse_root[None, :]


class GraphConvolution(nn.Module):
    """One GCN layer (Kipf & Welling): H' = A_hat H W, with H the node features (q, d_in)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        bound = 1.0 / math.sqrt(out_features)  # ML-GCN's initialisation
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, nodes: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        """(q, d_in), (q, q) -> (q, d_out)."""
        out = adjacency @ (nodes @ self.weight)
        return out + self.bias if self.bias is not None else out
