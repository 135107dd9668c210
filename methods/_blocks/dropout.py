"""Dropout with a cheap mask: ``keep = rand(x.shape) >= p``, kept elements scaled by 1 / (1 - p).

Every deep built-in method draws its dropout masks here (``Dropout`` in place
of ``nn.Dropout``, ``dropout`` in place of ``F.dropout``), for speed on the CPU:
PyTorch's own dropout draws its mask with ``bernoulli_``, which costs about
three times a uniform draw per element on this project's CPUs (a third of an
LDDU training step at the released code's sizes went there). A uniform draw
compared with ``p`` keeps each element with probability exactly 1 - p (the
draw is uniform on [0, 1), so ``P(u >= p) = 1 - p``), so the layer is the
same random function as ``nn.Dropout``; only the random numbers differ.

The mask is made once in forward and saved for backward, which multiplies
the incoming gradient by the same mask and scale (in float32/float64 a float
mask already holding the scale: see ``_MaskedScale``).
Draws come from the default generator of the tensor's device (float32 on the
CPU through ``uniform.py``: ``torch.rand``'s numbers at about half the
generator's cost), so seeding,
``torch.random.fork_rng`` and activation checkpointing (which replays the RNG
state) behave as with ``nn.Dropout``. Reduced-precision inputs (bfloat16,
float16 under autocast) draw their uniforms in float32: a bfloat16 uniform has
8 bits of mantissa and would keep elements with a visibly wrong probability.

Eval mode and p == 0 are the identity (the input itself, no copy); p == 1
zeroes everything (as ``nn.Dropout``: ``x * 0``).

Where the masks come from (``mask_source``): "torch" (the default, above) or
"pcg64" (``pcg_masks.py``: NumPy's PCG64 seeded by one draw of torch's
generator per mask, about a third cheaper on the CPU; another random stream, so
a method opts in with a version bump, through :func:`draw_masks_from`). On an
accelerator both are "torch".
"""

from __future__ import annotations

import torch
from torch import nn

from mmerbench_methods._blocks import pcg_masks
from mmerbench_methods._blocks.uniform import uniform_float32

_EXACT_DTYPES = (torch.float32, torch.float64)
MASK_SOURCES = ("torch", "pcg64")


def _uniform(shape: torch.Size, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``torch.rand(shape, dtype=dtype, device=device)``; float32 through ``uniform.py`` (the same numbers, cheaper)."""
    if dtype == torch.float32:
        return uniform_float32(shape, device)
    return torch.rand(shape, dtype=dtype, device=device)


def _pcg64(source: str, x: torch.Tensor) -> bool:
    if source not in MASK_SOURCES:
        raise ValueError(f"mask_source={source!r} is not valid: use one of {', '.join(MASK_SOURCES)}")
    return source == "pcg64" and x.device.type == "cpu"


def scaled_keep_mask(x: torch.Tensor, p: float, source: str = "torch") -> torch.Tensor:
    """A float32/float64 ``x``'s dropout mask: 1 / (1 - p) where kept, 0 where dropped.

    "torch": one uniform draw of x's shape, made into the mask in place in the draw's own buffer (``ge_``
    then ``mul_``: no new tensor); "pcg64": ``pcg_masks.scaled_keep_mask``.
    """
    if _pcg64(source, x):
        return pcg_masks.scaled_keep_mask(x.shape, p, x.dtype)
    return _uniform(x.shape, x.dtype, x.device).ge_(p).mul_(1.0 / (1.0 - p))


def _boolean_keep_mask(x: torch.Tensor, p: float, source: str) -> torch.Tensor:
    if _pcg64(source, x):
        return pcg_masks.keep_mask(x.shape, p)
    return _uniform(x.shape, torch.float32, x.device) >= p


def _check_probability(p: float) -> float:
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, got {p}")
    return p


class _MaskedScale(torch.autograd.Function):
    """y = x * keep / (1 - p) with keep = (u >= p), u uniform on [0, 1); the same keep in backward.

    In float32 and float64 the mask is kept as a float tensor holding 1 / (1 - p) where kept and 0
    where dropped, made in place in the uniform draw's own buffer (``ge_`` then ``mul_``: no new
    tensor). Multiplying by it is then one same-dtype product per pass, where a boolean mask costs a
    dtype conversion of the whole mask inside every product (about five times the product itself on
    this project's CPUs, in forward and again in backward). The numbers are the boolean form's,
    bit for bit: x * (1 * s) = (x * 1) * s and x * 0 = (x * 0) * s, signed zeros and NaN included
    (``tests/methods/_blocks/test_blocks_dropout.py`` checks it). The saved mask takes 4 (or 8)
    bytes per element instead of 1, so callers whose tensors are large maps kept for backward
    (attention probabilities: B x heads x Tq x Tk) ask for the boolean mask (``compact``).
    Reduced-precision inputs keep the boolean mask too: their product rounds to their own dtype
    after each factor, which a float32 mask would change.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, p: float, compact: bool = False, source: str = "torch") -> torch.Tensor:
        scale = 1.0 / (1.0 - p)
        if x.dtype in _EXACT_DTYPES and not compact:
            mask = scaled_keep_mask(x, p, source)
            ctx.save_for_backward(mask)
            ctx.scale = None
            return x * mask
        keep = _boolean_keep_mask(x, p, source)  # bool: 1 byte per element saved
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return x.mul(keep).mul_(scale)  # two passes over x; the second in place on the fresh product

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (mask,) = ctx.saved_tensors
        if ctx.scale is None:
            return grad * mask, None, None, None
        return grad.mul(mask).mul_(ctx.scale), None, None, None


def dropout(x: torch.Tensor, p: float, training: bool = True, compact_mask: bool = False,
            mask_source: str = "torch") -> torch.Tensor:
    """Drop each element of ``x`` with probability ``p`` while ``training`` (``F.dropout``'s contract).

    ``compact_mask``: keep a 1-byte boolean mask for backward instead of the faster float one (the same
    numbers), for large tensors such as attention maps. ``mask_source``: see the module docstring.
    """
    p = _check_probability(p)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    return _MaskedScale.apply(x, p, bool(compact_mask), mask_source)


class Dropout(nn.Dropout):
    """``nn.Dropout`` with the cheap mask of :func:`dropout` (an ``nn.Dropout`` subclass, so code that looks
    for dropout layers, e.g. to switch them on at test time, still finds them)."""

    def __init__(self, p: float = 0.5, mask_source: str = "torch"):
        super().__init__(_check_probability(p))
        if mask_source not in MASK_SOURCES:
            raise ValueError(f"mask_source={mask_source!r} is not valid: use one of {', '.join(MASK_SOURCES)}")
        self.mask_source = mask_source

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training, mask_source=self.mask_source)


def draw_masks_from(model: nn.Module, source: str) -> nn.Module:
    """Every module of ``model`` that draws dropout masks (one with a ``mask_source``) draws them from ``source``.

    How a method opts into "pcg64" for all its layers, the shared blocks' included; returns ``model``.
    """
    if source not in MASK_SOURCES:
        raise ValueError(f"mask_source={source!r} is not valid: use one of {', '.join(MASK_SOURCES)}")
    for module in model.modules():
        if hasattr(module, "mask_source"):
            module.mask_source = source
    return model
