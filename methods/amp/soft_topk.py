"""Differentiable top-k by entropic optimal transport (Xie et al., NeurIPS 2020), per sample and masked.

The n valid scores of a sample (mass 1/n each) are transported to two
anchors, "selected" at 1 and "kept" at 0, with capacities k/n and (n - k)/n
and cost (score - anchor)^2. The entropic plan, found by Sinkhorn iterations
in log space, sends each score's mass mostly to one anchor; n times the mass
sent to "selected" is a soft indicator in [0, 1] that sums to k over the
sample and approaches the hard top-k as ``epsilon`` goes to 0.

Differences from the released AMP code (which uses the paper's implicit
backward): gradients flow through the unrolled iterations (autograd), the
cost is normalised per sample (the code divides by the batch's largest cost,
which makes a sample's mask depend on its batch mates), padded steps carry no
mass and are never selected, and k is per sample (a fraction of its valid
steps) so that sequences of any length can be masked.
"""

from __future__ import annotations

import torch


def soft_top_k(scores: torch.Tensor, mask: torch.Tensor, k: torch.Tensor, epsilon: float = 0.1,
               iterations: int = 100) -> torch.Tensor:
    """scores (B, n), mask (B, n) bool, k (B,) numbers of steps to select -> (B, n) soft indicators.

    Rows with no valid step give zeros. ``k`` is clamped to [0, n_valid].
    """
    valid_counts = mask.sum(dim=1).to(scores.dtype)  # (B,)
    has_steps = valid_counts > 0
    # A row without valid steps (a missing modality) is computed as if fully valid, then zeroed:
    # an all -inf row would turn the iterations (and their gradients) into NaN.
    mask = mask | ~has_steps.unsqueeze(1)
    n = mask.sum(dim=1).to(scores.dtype)
    k = torch.minimum(k.to(scores.dtype).clamp_min(0.0), n)
    anchors = scores.new_tensor([1.0, 0.0])  # selected, kept
    cost = (scores.unsqueeze(-1) - anchors) ** 2  # (B, n, 2)
    largest = cost.masked_fill(~mask.unsqueeze(-1), 0.0).amax(dim=(1, 2), keepdim=True).detach()
    kernel = -(cost / largest.clamp_min(1e-12)) / epsilon  # (B, n, 2) log-kernel
    tiny = 1e-9  # keeps log capacities finite when k is 0 or n
    log_mu = torch.where(mask, -torch.log(n).unsqueeze(1), torch.full_like(scores, float("-inf")))
    capacity = torch.stack([k / n, (n - k) / n], dim=1).clamp_min(tiny)
    log_nu = torch.log(capacity / capacity.sum(dim=1, keepdim=True))  # (B, 2)
    log_v = torch.zeros_like(log_nu)
    for _ in range(iterations):
        log_u = log_mu - torch.logsumexp(kernel + log_v.unsqueeze(1), dim=2)  # (B, n)
        log_u = torch.where(mask, log_u, torch.full_like(log_u, float("-inf")))
        log_v = log_nu - torch.logsumexp(kernel + log_u.unsqueeze(2), dim=1)  # (B, 2)
    plan = torch.exp(log_u.unsqueeze(2) + kernel + log_v.unsqueeze(1))  # (B, n, 2)
    selected = plan[..., 0] * n.unsqueeze(1)
    return torch.where(mask & has_steps.unsqueeze(1), selected, torch.zeros_like(selected))
