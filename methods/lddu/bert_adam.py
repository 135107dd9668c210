"""The released LDDU code's optimiser, BertAdam, for the ``reference-code`` preset.

It differs from ``torch.optim.AdamW`` with a cosine schedule in three ways
that change how fast a model learns in its first few hundred steps:

- no bias correction: the first moment starts at (1 - b1) g and the second at
  (1 - b2) g^2, so an early update is m / sqrt(v) ~ 0.1 / sqrt(0.001) ~ 3x the
  bias-corrected one, shrinking towards 1x only as 0.999^t vanishes (still
  about 1.5x after 600 steps);
- epsilon 1e-6 (AdamW: 1e-8), decoupled weight decay added to the update;
- its "warmup_cosine" schedule: with x = step / total_steps, the factor is
  x / warmup during warm-up, then 0.5 * (1 + cos(pi * x)) -- a cosine over
  the *whole* run, not over the steps after warm-up (so it starts the decay
  at 0.976, not at 1), and the very first update has lr 0.

Weight decay (0.01 in the code) is not applied to biases and LayerNorm
parameters, as in the code's parameter groups.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class BertAdam(torch.optim.Optimizer):
    """Adam without bias correction, with decoupled weight decay (see the module docstring)."""

    def __init__(self, params, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-6,
                 weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.mul_(beta1).add_(p.grad, alpha=1.0 - beta1)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1.0 - beta2)
                update = m / (v.sqrt() + group["eps"])
                if group["weight_decay"] > 0:
                    update.add_(p, alpha=group["weight_decay"])
                p.add_(update, alpha=-group["lr"])
        return loss


def warmup_cosine_factor(step: int, total_steps: int, warmup_fraction: float) -> float:
    """The code's schedule: x / warmup while x < warmup, then 0.5 (1 + cos(pi x)), x = step / total."""
    x = step / max(1, total_steps)
    if x < warmup_fraction:
        return x / warmup_fraction
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, x)))


def decay_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two parameter groups: decayed weights, and biases / LayerNorm parameters without decay."""
    norm_parameters = {id(p) for module in model.modules() if isinstance(module, nn.LayerNorm)
                       for p in module.parameters(recurse=False)}
    decayed, plain = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        (plain if name.endswith("bias") or id(parameter) in norm_parameters else decayed).append(parameter)
    return [{"params": decayed, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]
