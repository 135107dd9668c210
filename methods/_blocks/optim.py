"""AdamW with a linear warm-up, the optimiser of BERT-style released code (BertAdam).

BertAdam -- used by the released code of CARAT, TAILOR and LDDU -- decays
weights only (not biases or LayerNorm parameters), warms the learning rate up
linearly over the first ``warmup`` fraction of the steps and then decays it
linearly to 0 over the remaining steps. Here that is ``torch.optim.AdamW``
with a ``LambdaLR`` schedule. (BertAdam also skips Adam's bias correction;
AdamW keeps it, which matters only in the first few hundred steps.)
"""

from __future__ import annotations

import math

import torch
from torch import nn

SCHEDULES = ("linear", "cosine")


def decays(name: str, parameter: nn.Parameter) -> bool:
    """Weight decay applies to weight matrices only, never to biases or norms."""
    return parameter.dim() > 1 and "norm" not in name


def warmup_factor(warmup_steps: int, total_steps: int, schedule: str = "linear"):
    """step -> learning-rate factor: (step + 1) / warmup during warm-up, then linear or cosine decay to 0."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule={schedule!r} is not valid: use one of {', '.join(SCHEDULES)}")

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        if schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return max(0.0, 1.0 - progress)

    return factor


def adamw_with_warmup(model: nn.Module, lr: float, weight_decay: float, warmup: float, total_steps: int,
                      schedule: str = "linear"):
    """(AdamW over ``model``'s parameters, its LambdaLR) with ``warmup`` a fraction of ``total_steps``."""
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        (decay if decays(name, parameter) else no_decay).append(parameter)
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": float(weight_decay)},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=float(lr))
    warmup_steps = max(1, int(float(warmup) * total_steps))
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_factor(warmup_steps, total_steps, schedule))
