"""Dropout keep-masks from NumPy's PCG64 generator, seeded from torch's: for methods that opt in.

Why: a dropout mask needs one uniform number per element, and on the CPU
PyTorch's generator (a Mersenne Twister) is one serial stream: no thread
count makes it faster. At LDDU's released sizes a training step draws about
25 million of them (30 masks of 64 x 50 x 256), and the draw plus the passes
that turn its words into float32 uniforms (``uniform.py``) were about a tenth
of a one-thread step. NumPy's PCG64 gives 64 random bits about a third faster
than the Mersenne Twister, and a mask needs no float uniform at all: each
element's 32-bit word, read as a signed integer, is compared with an integer
threshold, in one pass that writes the float mask directly.

How a mask stays PyTorch's random function of its seed: every mask takes one
64-bit draw from torch's default CPU generator and seeds a fresh PCG64 with
it. Seeding (``torch.manual_seed``), ``torch.random.fork_rng`` and activation
checkpointing (which restores torch's generator state before recomputing)
therefore replay the same masks, as with ``nn.Dropout``; the generator
advances by one draw per mask instead of one per element.

The keep probability: a word w is uniform on [-2**31, 2**31), and an element is
kept when w >= round(p * 2**32) - 2**31, so with probability
1 - round(p * 2**32) / 2**32: 1 - p to within 2**-33 (``torch.rand``'s float32
uniforms have 24 bits, so the shared dropout's is 1 - p to within 2**-24).
PCG64's stream for a given seed is one of NumPy's stable interfaces (its
bit generators' output does not change between releases).

A large mask is drawn by two threads: the first half of its words from the
seeded PCG64, the second from the same generator jumped ahead (an independent
stream, ``PCG64.jumped``), in a helper thread while this one draws the first
(NumPy releases the GIL while it draws). Which words a mask gets depends on
its seed and size only, never on timing or on the number of threads. The
second thread is used only when torch may use more than one
(``torch.get_num_threads() > 1``): a job run with ``--threads 1`` stays on one
core, as ``--jobs`` counts on; it then draws both halves itself, the same words.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

_WORD = 2 ** 32
PARALLEL_PAIRS = 1 << 16  # 64-bit draws from which a mask is drawn by two threads (131072 elements)
_helper: tuple[int, ThreadPoolExecutor] | None = None


def _threshold(p: float) -> int:
    """The signed 32-bit word at and above which an element is kept (probability 1 - p to within 2**-33)."""
    return min(int(round(p * _WORD)) - 2 ** 31, 2 ** 31 - 1)


def _second_thread() -> ThreadPoolExecutor:
    """The helper thread of this process (a forked child makes its own: threads do not survive a fork)."""
    global _helper
    if _helper is None or _helper[0] != os.getpid():
        _helper = (os.getpid(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="pcg-masks"))
    return _helper[1]


def _words(count: int) -> list[torch.Tensor]:
    """``count`` int32 words, in one or two consecutive pieces, from a PCG64 seeded by one 64-bit draw of
    torch's default CPU generator (and, for a large mask, that generator jumped ahead; module docstring)."""
    seed = int(torch.empty((), dtype=torch.int64).random_(-(2 ** 63), None))  # all 64 bits: one random64 draw
    generator = np.random.PCG64(seed & (2 ** 64 - 1))
    pairs = (count + 1) // 2  # two 32-bit words per draw
    if pairs < PARALLEL_PAIRS:
        return [torch.from_numpy(generator.random_raw(pairs).view(np.int32)[:count])]
    first, jumped = pairs // 2, generator.jumped()  # jumped from the seeded state, before the first half
    if torch.get_num_threads() > 1:  # the job's thread budget has room for a second drawing thread
        later = _second_thread().submit(jumped.random_raw, pairs - first)
        head = torch.from_numpy(generator.random_raw(first).view(np.int32))
        tail = later.result()
    else:
        head = torch.from_numpy(generator.random_raw(first).view(np.int32))
        tail = jumped.random_raw(pairs - first)
    return [head, torch.from_numpy(tail.view(np.int32)[: count - 2 * first])]


def _compare(shape: torch.Size, p: float, out: torch.Tensor) -> torch.Tensor:
    """``out`` (of ``shape``, any dtype) <- word >= threshold, piece by piece (1 kept, 0 dropped)."""
    flat, start, threshold = out.view(-1), 0, _threshold(p)
    for piece in _words(flat.numel()):
        torch.ge(piece, threshold, out=flat[start:start + piece.numel()])
        start += piece.numel()
    return out


def keep_mask(shape: torch.Size, p: float) -> torch.Tensor:
    """A bool mask of ``shape``, True (kept) with probability 1 - p. CPU."""
    return _compare(shape, p, torch.empty(shape, dtype=torch.bool))


def scaled_keep_mask(shape: torch.Size, p: float, dtype: torch.dtype) -> torch.Tensor:
    """A float mask of ``shape`` and ``dtype``: 1 / (1 - p) where kept, 0 where dropped. CPU.

    The comparison writes its 0/1 result straight into the float tensor (no boolean tensor between),
    which is then scaled in place.
    """
    return _compare(shape, p, torch.empty(shape, dtype=dtype)).mul_(1.0 / (1.0 - p))
