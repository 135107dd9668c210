"""Gradient reversal (Ganin & Lempitsky, 2015): identity forward, -scale * gradient backward.

A feature extractor placed before a reversed discriminator learns to *fool*
the discriminator while the discriminator itself learns to classify: one
backward pass trains both sides of the adversarial game. TAILOR uses it for
its modality discriminator on the common features; MISA for its
(optional) adversarial similarity loss.
"""

from __future__ import annotations

import torch


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = float(scale)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        return grad_output.neg() * ctx.scale, None


def grad_reverse(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """``x`` unchanged; its gradient multiplied by ``-scale`` on the way back."""
    if scale < 0:
        raise ValueError(f"gradient reversal scale must be >= 0, got {scale}")
    return _ReverseGradient.apply(x, scale)
