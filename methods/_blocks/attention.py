"""Multi-head attention on ``scaled_dot_product_attention`` with key-padding masks.

Every attention over sequences in ``methods/`` goes through :func:`masked_attention`
so that no (B, heads, Tq, Tk) weight map is materialised where PyTorch has a
fused kernel for the call (CUDA: flash / memory-efficient; CPU: flash attention
without dropout). The one case without a fused kernel is *training with
attention dropout on CPU*: PyTorch then falls back to the math path, which
keeps the whole map, its softmax and its dropout mask for the backward pass
(about 3 GB per layer for MulT's 500-frame audio at batch 24). There the
queries are processed in chunks, each under activation checkpointing: the
forward keeps nothing of a chunk but its inputs, and the backward recomputes
one chunk at a time with the same dropout mask (checkpointing restores the RNG
state). Peak memory is then bounded by ``chunk_bytes`` per attention call
instead of growing with Tq * Tk; the result has the same distribution as
unchunked dropout attention (the dropout draws are made in another order, so
not the same numbers). The recomputation costs time (MulT's released-code
configuration on 500-frame audio: about 1.4x slower per step with 64 MiB
chunks), so chunking starts only above 512 MiB per map: maps that fit
comfortably keep the plain math path's speed, and only the ones that would
not fit in memory at all are chunked.

Dropout on the attention probabilities: on CUDA the fused kernels draw it themselves; on the CPU,
where PyTorch's math path would draw it with ``bernoulli_``, :func:`dot_product_attention` runs the
same math (scores, mask, softmax, dropout, weighted sum) with the shared cheap dropout of
``dropout.py``, so every dropout mask a method draws on the CPU comes from one place.

A method may opt into a faster CPU path for self-attention on short sequences
(``MultiheadAttention(fused_qkv=True)``: one packed projection, then the batched products of
``short_self_attention.py``, which keep a small map for backward); every other call goes
through :func:`masked_attention` as above.

Padding rule, in one place (:func:`key_padding_fallback`): keys at padded steps
get no weight; a sample with no valid key at all (a missing modality) attends
to its first step instead of producing NaN, and its output is zeroed by the
caller through ``has_key``.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from mmerbench_methods._blocks import short_self_attention as short
from mmerbench_methods._blocks.dropout import Dropout, dropout
from mmerbench_methods._blocks.masking import unpadded_on_cpu

# Bytes one chunk's float32 attention map may take on the CPU dropout path.
DEFAULT_CHUNK_BYTES = 512 * 1024 * 1024


def key_padding_fallback(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T) valid-mask -> (keys that may be attended (B, T), has_key (B,)).

    A row with no valid key would make the softmax NaN; such a row may attend to
    its first step, and the caller zeroes its result with ``has_key``.
    """
    has_key = mask.any(dim=1)
    attendable = mask.clone()
    attendable[:, 0] |= ~has_key
    return attendable, has_key


def _needs_chunking(query: torch.Tensor, key: torch.Tensor, dropout_p: float, chunk_bytes: int) -> bool:
    if dropout_p <= 0.0 or query.device.type != "cpu" or not torch.is_grad_enabled():
        return False
    batch, heads, steps_q, _ = query.shape
    return batch * heads * steps_q * key.shape[2] * 4 > chunk_bytes


def dot_product_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                          attn_mask: torch.Tensor | None = None, dropout_p: float = 0.0, is_causal: bool = False,
                          scale: float | None = None, mask_source: str = "torch") -> torch.Tensor:
    """``F.scaled_dot_product_attention``'s contract, with the shared dropout on the CPU.

    Without dropout, or on an accelerator (whose fused kernels draw their own
    dropout), this is ``scaled_dot_product_attention`` itself. With dropout on
    the CPU PyTorch would take its math path anyway; here that path is written
    out so that the mask on the (..., Tq, Tk) probabilities is drawn by
    :func:`~mmerbench_methods._blocks.dropout.dropout`. ``attn_mask`` is boolean
    (True = may attend) or additive, broadcastable to (..., Tq, Tk). ``mask_source``: where the CPU path's
    dropout masks come from (``dropout.py``).
    """
    if dropout_p <= 0.0 or query.device.type != "cpu":
        return F.scaled_dot_product_attention(query, key, value, attn_mask=attn_mask, dropout_p=dropout_p,
                                              is_causal=is_causal, scale=scale)
    scale = query.shape[-1] ** -0.5 if scale is None else scale
    scores = (query * scale) @ key.transpose(-2, -1)  # (..., Tq, Tk)
    if is_causal:
        steps_q, steps_k = scores.shape[-2:]
        causal = torch.ones(steps_q, steps_k, dtype=torch.bool, device=scores.device).tril()
        scores = scores.masked_fill(~causal, float("-inf"))
    if attn_mask is not None:
        scores = (scores.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool
                  else scores + attn_mask)
    weights = torch.softmax(scores, dim=-1)
    # the (..., Tq, Tk) map's mask is kept for backward: 1 byte per entry (the float mask would take 4)
    return dropout(weights, dropout_p, compact_mask=True, mask_source=mask_source) @ value


def _sdpa(query, key, value, attn_mask, dropout_p: float, mask_source: str = "torch") -> torch.Tensor:
    return dot_product_attention(query, key, value, attn_mask=attn_mask, dropout_p=dropout_p, mask_source=mask_source)


def masked_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, key_mask: torch.Tensor | None,
                     dropout_p: float = 0.0, chunk_bytes: int = DEFAULT_CHUNK_BYTES,
                     mask_source: str = "torch") -> torch.Tensor:
    """Scaled dot-product attention over valid keys.

    query (B, h, Tq, d), key / value (B, h, Tk, d), key_mask (B, Tk) bool with at
    least one True per row (see :func:`key_padding_fallback`) or None;
    ``dropout_p`` is applied as given (pass 0.0 outside training); ``mask_source``: see ``dropout.py``.
    -> (B, h, Tq, d_v).
    """
    attn_mask = None if key_mask is None else key_mask[:, None, None, :]
    if not _needs_chunking(query, key, dropout_p, chunk_bytes):
        return _sdpa(query, key, value, attn_mask, dropout_p, mask_source)
    batch, heads, steps_q, _ = query.shape
    per_query_row = batch * heads * key.shape[2] * 4
    rows = max(1, chunk_bytes // per_query_row)
    outputs = [
        checkpoint(_sdpa, query[:, :, start:start + rows], key, value, attn_mask, dropout_p, mask_source,
                   use_reentrant=False, preserve_rng_state=True)
        for start in range(0, steps_q, rows)
    ]
    return torch.cat(outputs, dim=2)


class MultiheadAttention(nn.Module):
    """Multi-head attention with a (B, Tk) valid-mask, built on :func:`masked_attention`.

    Parameters carry ``nn.MultiheadAttention``'s names and shapes (``in_proj_weight``,
    ``in_proj_bias``, ``out_proj``), so a state dict of one loads into the other
    and parameter counts are unchanged.

    forward(query (B, Tq, dim), key (B, Tk, dim), value (B, Tk, dim), key_mask (B, Tk) bool)
    -> (B, Tq, dim); a sample with no valid key gets zeros.

    ``fused_qkv=True``: self-attention (query, key and value one tensor) projects all three with one
    (dim -> 3 dim) product of ``in_proj_weight`` instead of three (dim -> dim) ones, and on the CPU,
    without dropout on the probabilities, short sequences attend through ``short_self_attention.py``
    (batched products) instead of the fused kernel. The same model and parameters, other float
    rounding: off by default, a method opts in with a version bump.
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0, chunk_bytes: int = DEFAULT_CHUNK_BYTES,
                 fused_qkv: bool = False):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim={dim} is not divisible by heads={heads}")
        self.dim, self.heads, self.dropout = dim, heads, dropout
        self.chunk_bytes = chunk_bytes
        self.fused_qkv = bool(fused_qkv)
        self.mask_source = "torch"  # where dropout masks on the probabilities come from (dropout.draw_masks_from)
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        # nn.MultiheadAttention's initialisation, in its order of random draws (out_proj's default
        # init first, then Xavier on the input projection), so seeded models start exactly as before.
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def _heads(self, x: torch.Tensor, part: int) -> torch.Tensor:
        weight = self.in_proj_weight[part * self.dim:(part + 1) * self.dim]
        bias = self.in_proj_bias[part * self.dim:(part + 1) * self.dim]
        batch, steps, _ = x.shape
        return F.linear(x, weight, bias).view(batch, steps, self.heads, -1).transpose(1, 2)

    def _packed_attention(self, x: torch.Tensor, attendable: torch.Tensor | None, dropout_p: float) -> torch.Tensor:
        """Self-attention from one packed projection: (B, T, dim) -> (B, T, dim), before the output projection."""
        # One (B*T, dim) x (dim, 3 dim) product where three (dim, dim) ones would each read x; in
        # backward one product (and no sum of three) for x's gradient, one for the weight's.
        batch, steps, _ = x.shape
        packed = F.linear(x, self.in_proj_weight, self.in_proj_bias)  # (B, T, 3 dim)
        if short.applies(batch, self.heads, steps, packed.dtype, packed.device, dropout_p):
            return short.short_self_attention(packed, self.heads, attendable)
        queries, keys, values = packed.view(batch, steps, 3, self.heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        out = masked_attention(queries, keys, values, attendable, dropout_p, self.chunk_bytes, self.mask_source)
        return out.transpose(1, 2).reshape(batch, steps, self.dim)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                key_mask: torch.Tensor) -> torch.Tensor:
        # Every key valid (no padding in the batch), on the CPU: no mask and no zeroing, the same numbers
        # without building the (B, 1, 1, Tk) additive mask, the kernel's masked path and a pass over the
        # output (see masking.unpadded_on_cpu).
        unpadded = unpadded_on_cpu(key_mask)
        attendable, has_key = (None, None) if unpadded else key_padding_fallback(key_mask)
        dropout_p = self.dropout if self.training else 0.0
        if self.fused_qkv and query is key and key is value:
            out = self.out_proj(self._packed_attention(query, attendable, dropout_p))
        else:
            out = masked_attention(self._heads(query, 0), self._heads(key, 1), self._heads(value, 2), attendable,
                                   dropout_p, self.chunk_bytes, self.mask_source)
            batch, _, steps, _ = out.shape
            out = self.out_proj(out.transpose(1, 2).reshape(batch, steps, self.dim))
        return out if unpadded else out * has_key[:, None, None].to(out.dtype)


class TransformerEncoderLayer(nn.Module):
    """Transformer encoder layer, pre-LN (``norm_first=True``, MulT/LDDU style) or
    post-LN (BERT style): ``nn.TransformerEncoderLayer(batch_first=True)`` with the
    same parameter names, attention through :class:`MultiheadAttention`.

    forward(x (B, T, dim), mask (B, T) bool) -> (B, T, dim).

    ``fused_qkv``: the self-attention's three projections as one product (see :class:`MultiheadAttention`).
    """

    def __init__(self, dim: int, heads: int, feedforward: int, dropout: float = 0.1, activation: str = "relu",
                 norm_first: bool = True, attention_dropout: float | None = None, fused_qkv: bool = False):
        super().__init__()
        self.norm_first = norm_first
        activations = {"relu": F.relu, "gelu": F.gelu}
        if activation not in activations:
            raise ValueError(f"activation={activation!r} is not valid: use one of {', '.join(activations)}")
        self.activation = activations[activation]
        # nn.TransformerEncoderLayer uses one dropout for both; a separate attention dropout
        # (e.g. 0) lets the residual dropout stay while attention runs in a fused kernel.
        self.self_attn = MultiheadAttention(dim, heads, dropout if attention_dropout is None else attention_dropout,
                                            fused_qkv=fused_qkv)
        self.linear1 = nn.Linear(dim, feedforward)
        self.linear2 = nn.Linear(feedforward, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.dropout = Dropout(dropout)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)

    def _feedforward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.norm_first:
            h = self.norm1(x)
            x = x + self.dropout1(self.self_attn(h, h, h, mask))
            return x + self._feedforward(self.norm2(x))
        x = self.norm1(x + self.dropout1(self.self_attn(x, x, x, mask)))
        return self.norm2(x + self._feedforward(x))


class TransformerEncoder(nn.Module):
    """A stack of :class:`TransformerEncoderLayer` (state-dict compatible with
    ``nn.TransformerEncoder`` without a final norm)."""

    def __init__(self, dim: int, heads: int, layers: int, feedforward: int, dropout: float = 0.1,
                 activation: str = "relu", norm_first: bool = True, attention_dropout: float | None = None,
                 fused_qkv: bool = False):
        super().__init__()
        # As nn.TransformerEncoder: one layer initialised, then copied, so every layer starts from the
        # same weights and a seeded model draws the same random numbers as with PyTorch's module.
        layer = TransformerEncoderLayer(dim, heads, feedforward, dropout, activation, norm_first, attention_dropout,
                                        fused_qkv)
        self.layers = nn.ModuleList([copy.deepcopy(layer) for _ in range(layers)])

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, mask)
        return x
