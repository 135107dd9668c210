"""``torch.rand(shape)`` on the CPU in float32, bit for bit, at about half the generator's cost.

Why: the CPU generator is one serial stream, so dropout's uniform draws do not
get faster with more threads; at LDDU's released sizes they were about a tenth
of a two-thread training step. ``torch.rand`` calls the Mersenne Twister once
per element through a per-element kernel; ``random_`` on int64 over the full
64-bit range calls it twice per element through the same kind of kernel, so
one int64 draw gives two elements' 32-bit words for about the per-element
cost of one float.

How the numbers stay the same (PyTorch's CPU generator, ``at::CPUGeneratorImpl``):

- a float32 uniform is ``(w & (2**24 - 1)) * 2**-24`` for the next 32-bit word
  ``w`` (``uniform_real_distribution<float>``: 24 bits of mantissa);
- a full-range int64 draw is ``(w1 << 32) | w2`` for the next two words
  (``random64``), so in memory (little-endian) the second word comes first.

So each int64 draw is masked to two 24-bit halves, its halves swapped back into
draw order (shifts and an or, whole-array passes), viewed as 32-bit integers,
converted to float32 (exact below 2**24) and scaled by 2**-24 (exact): the
floats ``torch.rand`` would have returned, and the generator is left in the
same state (an odd element count takes its last element from ``torch.rand(1)``). Because this rests on two details of
PyTorch's implementation, :func:`uniform_float32` checks them once per
process against ``torch.rand`` itself (under ``fork_rng``, so the check
leaves no trace) and falls back to ``torch.rand`` if they ever differ.
"""

from __future__ import annotations

import math

import torch

_MANTISSA = (1 << 24) - 1  # the bits of a 32-bit word that a float32 uniform keeps
_SCALE = 2.0 ** -24
_same_as_rand: bool | None = None  # the one-time check's answer


def _paired_uniform_float32(count: int) -> torch.Tensor:
    """(count,) float32 uniforms drawn two per int64 word; see the module docstring."""
    out = torch.empty(count, dtype=torch.float32)
    pairs = count // 2
    if pairs:
        words = torch.empty(pairs, dtype=torch.int64).random_(-(2 ** 63), None)  # (w1 << 32) | w2
        words.bitwise_and_(_MANTISSA << 32 | _MANTISSA)  # both halves to 24 bits: the top bit is now 0
        first = words << 32  # w2's bits move up ...
        words >>= 32  # ... w1's down (no sign to extend) ...
        words |= first  # ... so that in memory w1's bits come first, as in draw order
        out[: 2 * pairs].copy_(words.view(torch.int32))  # whole-array conversion, exact below 2**24
        out[: 2 * pairs].mul_(_SCALE)
    if count % 2:
        out[-1:] = torch.rand(1)  # one more word, in draw order: the generator ends where torch.rand's would
    return out


def _check_against_rand() -> bool:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(20_241_207)
        plain, after_plain = torch.rand(9), torch.rand(3)
        torch.manual_seed(20_241_207)
        paired, after_paired = _paired_uniform_float32(9), torch.rand(3)
    return torch.equal(plain, paired) and torch.equal(after_plain, after_paired)


def uniform_float32(shape: tuple[int, ...] | torch.Size, device: torch.device | str = "cpu") -> torch.Tensor:
    """``torch.rand(shape, dtype=torch.float32, device=device)``: the same numbers and generator state.

    The paired draw is used on the CPU's default generator; any other device
    (whose kernels are parallel anyway) gets ``torch.rand``.
    """
    global _same_as_rand
    if torch.device(device).type != "cpu":
        return torch.rand(shape, dtype=torch.float32, device=device)
    if _same_as_rand is None:
        _same_as_rand = _check_against_rand()
    if not _same_as_rand:
        return torch.rand(shape, dtype=torch.float32)
    return _paired_uniform_float32(math.prod(shape)).view(shape)
