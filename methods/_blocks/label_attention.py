"""Label-wise attention ("emotion space modelling"): label queries over frames.

Each of the q labels owns an embedding. A label's query attends over one
modality's frames with a softmax that gives padded frames exactly zero weight,
so what sits at padded steps never changes the result, and a sequence of any
length works (aligned or unaligned data, no CTC). A sample whose modality is
missing (no valid frame) gets a zero attention row, hence zero context.

LDDU (Huang et al., 2025) and CARAT (Peng et al., 2024) both use this block:

    a_ij = softmax_j( Proj_L(l_i) . Proj_O(o_j) / sqrt(d_a) )     (masked)
    z_i  = Out( sum_j a_ij Proj_O(o_j) )

The label embeddings are passed in rather than owned here, so a model can
share one set of embeddings across modalities (LDDU) or keep one per modality.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from mmerbench_methods._blocks.attention import key_padding_fallback
from mmerbench_methods._blocks.dropout import Dropout
from mmerbench_methods._blocks.masking import masked_softmax, unpadded_on_cpu


class LabelWiseAttention(nn.Module):
    """q label queries attend over one modality's frames.

    Args:
        label_dim: size of the label embeddings given to ``forward``.
        frame_dim: size of the frames (B, T, frame_dim).
        attention_dim: size of the shared query/key space (``d_a``).
        output_dim: size of each label's output vector.
        dropout: dropout on the attended context (before the output projection).
        project_values: True (default): the context is Out(sum_j a_ij Proj_O(o_j)).
            False: the context is the attention-weighted average of the frames
            themselves, sum_j a_ij o_j (CARAT's MLAttention); then
            ``attention_dim`` only sizes the scores and ``output_dim`` must
            equal ``frame_dim``. Such a context cannot shrink towards 0 by
            shrinking a projection, which CARAT's MSE terms would otherwise do.

    forward(labels (q, label_dim) or (B, q, label_dim), frames (B, T, frame_dim),
    mask (B, T) bool, True at valid frames, need_weights=False)
    -> (context (B, q, output_dim), weights (B, q, T) or None). The context is
    computed by ``scaled_dot_product_attention`` (no (B, q, T) map is kept for
    backward when a fused kernel applies); the weights are only computed when
    asked for: 0 at padded frames, each row summing to 1 (all 0 when the
    sample has no frame).
    """

    def __init__(self, label_dim: int, frame_dim: int, attention_dim: int, output_dim: int, dropout: float = 0.1,
                 project_values: bool = True):
        super().__init__()
        if not project_values and output_dim != frame_dim:
            raise ValueError(f"project_values=False needs output_dim == frame_dim, got {output_dim} and {frame_dim}")
        self.project_values = project_values
        self.label_projection = nn.Linear(label_dim, attention_dim)
        self.frame_projection = nn.Linear(frame_dim, attention_dim)
        self.output_projection = nn.Linear(attention_dim, output_dim) if project_values else nn.Identity()
        self.dropout = Dropout(dropout)
        self.scale = 1.0 / math.sqrt(attention_dim)

    def forward(self, labels: torch.Tensor, frames: torch.Tensor, mask: torch.Tensor,
                need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        if frames.dim() != 3 or mask.shape != frames.shape[:2]:
            raise ValueError(
                f"frames must be (B, T, D) with a (B, T) mask; got frames {tuple(frames.shape)}, mask {tuple(mask.shape)}"
            )
        queries = self.label_projection(labels)  # (q, d_a) or (B, q, d_a)
        if queries.dim() == 2:
            queries = queries.unsqueeze(0).expand(frames.shape[0], -1, -1)  # (B, q, d_a), a view
        keys = self.frame_projection(frames)  # (B, T, d_a)
        # Padded frames get weight exactly 0, but 0 * NaN/inf would still leak,
        # so zero the values there too; a sample without any frame then gets a
        # zero context whichever step it is allowed to attend to.
        values = keys if self.project_values else frames
        unpadded = unpadded_on_cpu(mask)  # nothing to zero or mask: the same numbers, fewer passes
        if not unpadded:
            values = values.masked_fill(~mask.unsqueeze(-1), 0.0)
        # (B, q, d_a), or (B, q, frame_dim) without the value projection
        context = attend(queries, keys, values, None if unpadded else mask, self.scale)
        weights = None
        if need_weights:
            scores = torch.einsum("bqa,bta->bqt", queries, keys) * self.scale
            weights = masked_softmax(scores, mask.unsqueeze(1), dim=-1)  # (B, q, T)
        return self.output_projection(self.dropout(context)), weights


class MLPLabelAttention(nn.Module):
    """The paper's "w/o emotion space" ablation: MLP-based (additive) attention, one score per label.

    Instead of label embeddings as queries, an MLP scores each frame for each
    label, s_ij = w_i . tanh(W o_j), and a label's context is the
    softmax_j-weighted sum of the frames, projected: z_i = Out(sum_j a_ij o_j).
    Padding is masked exactly as in :class:`LabelWiseAttention` (same output
    shape, so a model can swap one for the other). The scores are a dot
    product of a learned query w_i with the key tanh(W o_j), so this goes
    through the same fused attention.

    forward(frames (B, T, frame_dim), mask (B, T)) -> (B, q, output_dim).
    """

    def __init__(self, n_labels: int, frame_dim: int, attention_dim: int, output_dim: int, dropout: float = 0.1):
        super().__init__()
        self.key_projection = nn.Linear(frame_dim, attention_dim)
        self.label_scores = nn.Parameter(nn.init.xavier_uniform_(torch.empty(n_labels, attention_dim)))  # w_i
        self.output_projection = nn.Linear(frame_dim, output_dim)
        self.dropout = Dropout(dropout)

    def forward(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        keys = torch.tanh(self.key_projection(frames))  # (B, T, d_a)
        queries = self.label_scores.unsqueeze(0).expand(frames.shape[0], -1, -1)  # (B, q, d_a)
        values = frames.masked_fill(~mask.unsqueeze(-1), 0.0)
        context = attend(queries, keys, values, mask, scale=1.0)  # (B, q, frame_dim)
        return self.output_projection(self.dropout(context))


def attend(queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor | None,
           scale: float) -> torch.Tensor:
    """softmax(scale * Q K^T, masked) V with ``scaled_dot_product_attention``: (B, q, a), (B, T, a), (B, T, v).

    A sample with no valid frame may attend to its first step instead (the
    fused kernels return NaN for a row with nothing to attend to); callers
    zero the values at padded steps, so its context is exactly 0.
    """
    attn_mask = None if mask is None else key_padding_fallback(mask)[0][:, None, None, :]  # None: every frame valid
    return F.scaled_dot_product_attention(
        queries.unsqueeze(1), keys.unsqueeze(1), values.unsqueeze(1), attn_mask=attn_mask, scale=scale,
    ).squeeze(1)


class PooledLabelProjection(nn.Module):
    """A cruder no-attention ablation: mean-pool the valid frames, then one MLP per label.

    Not the paper's ablation (that is :class:`MLPLabelAttention`): mean-pooling
    dilutes short cues over the whole sequence, which biases a "without
    emotion space" comparison against itself. Kept as a separate option.

    forward(frames (B, T, frame_dim), mask (B, T)) -> (B, q, output_dim).
    Same output shape as :class:`LabelWiseAttention`, so a model can swap one
    for the other ("w/o emotion space attention").
    """

    def __init__(self, n_labels: int, frame_dim: int, output_dim: int, dropout: float = 0.1):
        super().__init__()
        self.n_labels, self.output_dim = n_labels, output_dim
        self.mlp = nn.Sequential(nn.Linear(frame_dim, frame_dim), nn.ReLU(), Dropout(dropout),
                                 nn.Linear(frame_dim, n_labels * output_dim))

    def forward(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        valid = mask.unsqueeze(-1)  # (B, T, 1)
        total = frames.masked_fill(~valid, 0.0).sum(1)  # (B, D)
        pooled = total / valid.sum(1).clamp_min(1).to(frames.dtype)
        return self.mlp(pooled).view(frames.shape[0], self.n_labels, self.output_dim)
