"""Self-attention over short sequences as batched matrix products, from packed projections, for methods that opt in.

Why: PyTorch's CPU flash-attention kernel walks every (sample, head) in blocks
of queries with an online softmax, and recomputes the probabilities in
backward; on short sequences that bookkeeping, not the arithmetic, is its time,
and it barely gains from a second thread (at LDDU's released sizes, 64 x 8 heads
x 50 steps x 32: about 21 ms per layer, forward and backward, on one thread of
this project's CPUs and 15-16 ms on two). Here the scores of every
(sample, head) are one batched product, the softmax one pass, the output one
more product; backward is four products and the softmax's backward, from the
probabilities kept from forward. That keeps a (B, heads, T, T) map per layer
until backward, so :func:`applies` takes this path only while the map is small;
long sequences keep the fused kernel, which keeps no map.

The input is the self-attention's packed projection, (B, T, 3 * dim) in
``in_proj_weight``'s order (queries, keys, values; each head's columns
together), and the output is (B, T, dim), ready for the output projection:
one copy rearranges the packed projection into per-head matrices in forward,
one the result back; backward mirrors them, writing the three gradients
straight into one packed buffer.

The numbers are those of ``scaled_dot_product_attention`` without dropout, up
to float rounding (the same scores, -inf at keys that may not be attended, the
same softmax; other orders of additions). Which path a call takes depends on
shapes, dtype, device and dropout only, never on values.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

# Bytes of probabilities one call may keep for backward: LDDU's released sizes (64 x 8 x 50 x 50 floats)
# take 5 MB, the paper preset's batch of 128 10 MB; 500-frame unaligned batches keep the fused kernel.
DEFAULT_MAP_BYTES = 32 * 1024 * 1024


def applies(batch: int, heads: int, steps: int, dtype: torch.dtype, device: torch.device, dropout_p: float,
            map_bytes: int | None = None) -> bool:
    """Whether a self-attention call should take :func:`short_self_attention`: on the CPU, in float32 or
    float64, without dropout on the probabilities or autocast, and with a map of at most ``map_bytes``
    (default ``DEFAULT_MAP_BYTES``)."""
    if dropout_p > 0.0 or device.type != "cpu" or dtype not in (torch.float32, torch.float64):
        return False
    if torch.is_autocast_enabled("cpu"):
        return False
    limit = DEFAULT_MAP_BYTES if map_bytes is None else map_bytes
    return batch * heads * steps * steps * torch.finfo(dtype).bits // 8 <= limit


class _ShortSelfAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, packed: torch.Tensor, key_mask: torch.Tensor | None, heads: int, scale: float) -> torch.Tensor:
        batch, steps, width3 = packed.shape
        width = width3 // 3
        # (B, T, 3, heads, d) -> (3, B, heads, T, d), contiguous: queries, keys, values per (sample, head)
        per_head = packed.view(batch, steps, 3, heads, width // heads).permute(2, 0, 3, 1, 4).contiguous()
        q, k, v = per_head.view(3, batch * heads, steps, width // heads).unbind(0)
        # alpha scales inside the product; beta = 0 ignores the (empty) added term
        scores = torch.baddbmm(q.new_empty(()), q, k.transpose(1, 2), beta=0.0, alpha=scale)  # (B*h, T, T)
        if key_mask is not None:  # (B, T), True where a key may be attended
            scores.view(batch, heads, steps, steps).masked_fill_(~key_mask[:, None, None, :], float("-inf"))
        probabilities = torch.softmax(scores, dim=-1)
        out = torch.bmm(probabilities, v)  # (B*h, T, d)
        ctx.save_for_backward(per_head, probabilities)
        ctx.heads, ctx.scale = heads, scale
        return out.view(batch, heads, steps, -1).transpose(1, 2).reshape(batch, steps, width)

    @staticmethod
    @once_differentiable  # backward writes into preallocated buffers: no graph of its own
    def backward(ctx, grad: torch.Tensor):
        per_head, probabilities = ctx.saved_tensors
        _, batch, heads, steps, head_width = per_head.shape
        q, k, v = per_head.view(3, batch * heads, steps, head_width).unbind(0)
        g = grad.reshape(batch, steps, heads, head_width).transpose(1, 2).reshape(batch * heads, steps, head_width)
        grads = torch.empty_like(per_head).view(3, batch * heads, steps, head_width)
        torch.bmm(probabilities.transpose(1, 2), g, out=grads[2])  # values
        grad_scores = torch._softmax_backward_data(torch.bmm(g, v.transpose(1, 2)), probabilities, -1,
                                                   probabilities.dtype)
        grad_scores.mul_(ctx.scale)  # once here rather than on both products below
        torch.bmm(grad_scores, k, out=grads[0])  # queries
        torch.bmm(grad_scores.transpose(1, 2), q, out=grads[1])  # keys
        packed_grad = grads.view(3, batch, heads, steps, head_width).permute(1, 3, 0, 2, 4)
        return packed_grad.reshape(batch, steps, 3 * heads * head_width), None, None, None


def short_self_attention(packed: torch.Tensor, heads: int, key_mask: torch.Tensor | None) -> torch.Tensor:
    """softmax(Q K^T / sqrt(d) over attendable keys) V, per head, from packed projections.

    packed (B, T, 3 * dim): queries, keys and values (``F.linear(x, in_proj_weight, in_proj_bias)``);
    key_mask (B, T) bool, True where a key may be attended and at least one per row (see
    ``attention.key_padding_fallback``), or None (every key). -> (B, T, dim), heads concatenated.
    """
    head_width = packed.shape[-1] // (3 * heads)
    return _ShortSelfAttention.apply(packed, key_mask, int(heads), head_width ** -0.5)
