"""Dropout with a cheap mask: ``keep = rand(x.shape) >= p``, kept elements scaled by 1 / (1 - p).

Every deep built-in method draws its dropout masks here (``Dropout`` in place
of ``nn.Dropout``, ``dropout`` in place of ``F.dropout``), for speed on the CPU:
PyTorch's own dropout draws its mask with ``bernoulli_``, which costs about
three times a uniform draw per element on this project's CPUs (a third of an
LDDU training step at the released code's sizes went there). A uniform draw
compared with ``p`` keeps each element with probability exactly 1 - p (the
draw is uniform on [0, 1), so ``P(u >= p) = 1 - p``), so the layer is the
same random function as ``nn.Dropout``; only the random numbers differ.

The mask is made once in forward and saved (one byte per element) for
backward, which multiplies the incoming gradient by the same mask and scale.
Draws come from the default generator of the tensor's device, so seeding,
``torch.random.fork_rng`` and activation checkpointing (which replays the RNG
state) behave as with ``nn.Dropout``. Reduced-precision inputs (bfloat16,
float16 under autocast) draw their uniforms in float32: a bfloat16 uniform has
8 bits of mantissa and would keep elements with a visibly wrong probability.

Eval mode and p == 0 are the identity (the input itself, no copy); p == 1
zeroes everything (as ``nn.Dropout``: ``x * 0``).
"""

from __future__ import annotations

import torch
from torch import nn

_EXACT_DTYPES = (torch.float32, torch.float64)


def _check_probability(p: float) -> float:
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, got {p}")
    return p


class _MaskedScale(torch.autograd.Function):
    """y = x * keep / (1 - p) with keep = (u >= p), u uniform on [0, 1); the same keep in backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, p: float) -> torch.Tensor:
        draw_dtype = x.dtype if x.dtype in _EXACT_DTYPES else torch.float32
        keep = torch.rand(x.shape, dtype=draw_dtype, device=x.device) >= p  # bool: 1 byte per element saved
        scale = 1.0 / (1.0 - p)
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return x.mul(keep).mul_(scale)  # two passes over x; the second in place on the fresh product

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (keep,) = ctx.saved_tensors
        return grad.mul(keep).mul_(ctx.scale), None


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Drop each element of ``x`` with probability ``p`` while ``training`` (``F.dropout``'s contract)."""
    p = _check_probability(p)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    return _MaskedScale.apply(x, p)


class Dropout(nn.Dropout):
    """``nn.Dropout`` with the cheap mask of :func:`dropout` (an ``nn.Dropout`` subclass, so code that looks
    for dropout layers, e.g. to switch them on at test time, still finds them)."""

    def __init__(self, p: float = 0.5):
        super().__init__(_check_probability(p))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)
