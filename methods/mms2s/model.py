"""MMS2S (Zhang et al., EMNLP 2020): multi-modal sequence-to-set emotion detection.

Each modality has its own Transformer encoder (temporal and self-modal
dynamics). A Transformer decoder emits the label set one label per step,
conditioned on the labels already emitted (label dependence). In every decoder
layer the state attends to each modality's encoding separately, and a
*multi-head soft modality attention* weighs the modalities per head and per
step (modality dependence: each emotion may rest on different modalities):

    c_m = CrossAttention(s, O^m)                       for every modality m
    beta^h_m = softmax_m(q_h(s) . k_h(c_m) / sqrt(d_h)) per head h
    fused = concat_h sum_m beta^h_m c^h_m              then an output projection

A modality a sample lacks gets no weight. Labels already emitted are masked
out of later steps' softmax (EOS always allowed), as in SGM.
Vocabulary: labels 0..q-1, EOS q, BOS q + 1 (``methods/_blocks/label_sequences.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mmerbench_methods._blocks.attention import MultiheadAttention, dot_product_attention
from mmerbench_methods._blocks.dropout import Dropout
from mmerbench_methods._blocks.encoders import ModalityEncoder


@dataclass
class MMS2SConfig:
    modality_dims: dict[str, int]
    n_labels: int
    dim: int = 256
    heads: int = 8
    encoder_layers: int = 4
    decoder_layers: int = 2
    feedforward: int = 1024
    dropout: float = 0.1
    max_steps: int = 4096


class ModalityAttention(nn.Module):
    """Multi-head soft attention over per-modality contexts.

    forward(state (B, S, d), contexts (B, S, M, d), present (B, M) bool) -> (B, S, d)
    and the weights (B, S, heads, M).
    """

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, state: torch.Tensor, contexts: torch.Tensor, present: torch.Tensor):
        batch, steps, modalities, dim = contexts.shape
        q = self.query(state).view(batch, steps, self.heads, 1, self.head_dim)
        k = self.key(contexts).view(batch, steps, modalities, self.heads, self.head_dim).transpose(2, 3)
        scores = (q * k).sum(-1) / math.sqrt(self.head_dim)  # (B, S, heads, M)
        allowed = present[:, None, None, :]
        # A sample with no modality at all keeps a uniform weight over zero contexts (output 0).
        allowed = allowed | ~present.any(dim=1)[:, None, None, None]
        weights = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
        values = contexts.view(batch, steps, modalities, self.heads, self.head_dim).transpose(2, 3)
        fused = (weights.unsqueeze(-1) * values).sum(dim=3)  # (B, S, heads, head_dim)
        return self.out(fused.reshape(batch, steps, dim)), weights


class CausalSelfAttention(nn.Module):
    """Self-attention over the label prefix; each step sees itself and earlier steps only."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, steps, dim = x.shape
        q, k, v = self.qkv(x).view(batch, steps, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        out = dot_product_attention(q, k, v, is_causal=True,
                                    dropout_p=self.dropout if self.training else 0.0)
        return self.out(out.transpose(1, 2).reshape(batch, steps, dim))


class DecoderLayer(nn.Module):
    """Pre-LN: causal self-attention, per-modality cross-attention + modality attention, feed-forward."""

    def __init__(self, modalities: list[str], dim: int, heads: int, feedforward: int, dropout: float):
        super().__init__()
        self.modalities = modalities
        self.self_norm = nn.LayerNorm(dim)
        self.self_attention = CausalSelfAttention(dim, heads, dropout)
        self.cross_norm = nn.LayerNorm(dim)
        self.cross_attention = nn.ModuleDict({m: MultiheadAttention(dim, heads, dropout) for m in modalities})
        self.modality_attention = ModalityAttention(dim, heads)
        self.feedforward_norm = nn.LayerNorm(dim)
        self.feedforward = nn.Sequential(nn.Linear(dim, feedforward), nn.ReLU(), Dropout(dropout),
                                         nn.Linear(feedforward, dim))
        self.dropout = Dropout(dropout)

    def forward(self, x: torch.Tensor, memory: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]):
        x = x + self.dropout(self.self_attention(self.self_norm(x)))
        query = self.cross_norm(x)
        contexts = torch.stack([self.cross_attention[m](query, memory[m], memory[m], masks[m])
                                for m in self.modalities], dim=2)  # (B, S, M, d)
        present = torch.stack([masks[m].any(dim=1) for m in self.modalities], dim=1)  # (B, M)
        fused, weights = self.modality_attention(query, contexts, present)
        x = x + self.dropout(fused)
        x = x + self.dropout(self.feedforward(self.feedforward_norm(x)))
        return x, weights


class MMS2S(nn.Module):
    def __init__(self, config: MMS2SConfig):
        super().__init__()
        self.config = config
        self.modalities = list(config.modality_dims)
        q = config.n_labels
        self.eos, self.bos = q, q + 1
        self.encoders = nn.ModuleDict({
            m: ModalityEncoder(d, config.dim, config.encoder_layers, config.heads, config.dropout,
                               config.feedforward, config.max_steps)
            for m, d in config.modality_dims.items()})
        self.label_embedding = nn.Embedding(q + 2, config.dim)
        self.step_embedding = nn.Embedding(q + 2, config.dim)  # position of a step in the label sequence
        self.layers = nn.ModuleList([DecoderLayer(self.modalities, config.dim, config.heads, config.feedforward,
                                                  config.dropout) for _ in range(config.decoder_layers)])
        self.final_norm = nn.LayerNorm(config.dim)
        self.output = nn.Linear(config.dim, q + 1)

    def encode(self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {m: self.encoders[m](features[m], masks[m]) for m in self.modalities}

    def decode_logits(self, prefix: torch.Tensor, memory, masks, emitted: torch.Tensor):
        """prefix (B, S) input ids (BOS first), emitted (B, S, q) labels already emitted before each step
        -> (logits (B, S, q + 1) with emitted labels at -inf, modality weights per layer)."""
        steps = torch.arange(prefix.shape[1], device=prefix.device)
        x = self.label_embedding(prefix) + self.step_embedding(steps)[None]
        weights = []
        for layer in self.layers:
            x, w = layer(x, memory, masks)
            weights.append(w)
        logits = self.output(self.final_norm(x))
        blocked = torch.cat([emitted, torch.zeros_like(emitted[..., :1])], dim=-1)
        return logits.masked_fill(blocked, float("-inf")), weights

    @torch.no_grad()
    def greedy_decode(self, features, masks) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (emitted (B, q) bool, best (B, q): each label's highest probability up to EOS)."""
        memory = self.encode(features, masks)
        batch, q = next(iter(masks.values())).shape[0], self.config.n_labels
        device = self.output.weight.device
        prefix = torch.full((batch, 1), self.bos, dtype=torch.long, device=device)
        emitted_before = torch.zeros(batch, 1, q, dtype=torch.bool, device=device)
        best = torch.zeros(batch, q, device=device)
        active = torch.ones(batch, dtype=torch.bool, device=device)
        for _ in range(q + 1):
            logits, _ = self.decode_logits(prefix, memory, masks, emitted_before)
            probs = torch.softmax(logits[:, -1].float(), dim=-1)  # (B, q + 1)
            best = torch.where(active[:, None], torch.maximum(best, probs[:, :q]), best)
            choice = probs.argmax(dim=-1)
            emits = active & (choice < self.eos)
            emitted = emitted_before[:, -1] | (F.one_hot(choice.clamp_max(q - 1), q).bool() & emits[:, None])
            active = emits
            if not bool(active.any()):
                break
            prefix = torch.cat([prefix, choice[:, None]], dim=1)
            emitted_before = torch.cat([emitted_before, emitted[:, None]], dim=1)
        return emitted, best

    @torch.no_grad()
    def top_k_decode(self, features, masks, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Beam search keeping the k most probable label sequences at every step.

        -> (emitted (B, q) bool, best (B, q), log_prob (B,)) of the most probable finished sequence;
        ``best`` is each label's highest probability along that sequence up to its EOS, as in
        ``greedy_decode``, which this equals for k = 1. Emitted labels are masked, so a sequence is
        a set and at most q + 1 steps are needed.
        """
        memory = self.encode(features, masks)
        batch, q = next(iter(masks.values())).shape[0], self.config.n_labels
        device = self.output.weight.device
        beams = batch * k
        memory = {m: x.repeat_interleave(k, dim=0) for m, x in memory.items()}  # (B k, T, d)
        masks = {m: x.repeat_interleave(k, dim=0) for m, x in masks.items()}
        prefix = torch.full((beams, 1), self.bos, dtype=torch.long, device=device)
        emitted_before = torch.zeros(beams, 1, q, dtype=torch.bool, device=device)
        best = torch.zeros(beams, q, device=device)
        finished = torch.zeros(beams, dtype=torch.bool, device=device)
        # Every beam starts as the same empty sequence: only the first may expand at step one.
        score = torch.full((batch, k), float("-inf"), device=device)
        score[:, 0] = 0.0
        score = score.reshape(beams)
        only_eos = torch.full((q + 1,), float("-inf"), device=device)
        only_eos[self.eos] = 0.0
        base = (torch.arange(batch, device=device) * k).unsqueeze(1)  # (B, 1): first beam of each sample
        for _ in range(q + 1):
            logits, _ = self.decode_logits(prefix, memory, masks, emitted_before)
            log_probs = torch.log_softmax(logits[:, -1].float(), dim=-1)  # (B k, q + 1)
            # A finished sequence continues with EOS at no cost, so it keeps its score and its place.
            step = torch.where(finished[:, None], only_eos, log_probs)
            candidates = (score[:, None] + step).reshape(batch, k * (q + 1))
            top, index = candidates.topk(k, dim=1)  # (B, k)
            origin = (base + index // (q + 1)).reshape(beams)  # the beam each survivor extends
            choice = (index % (q + 1)).reshape(beams)
            was_finished = finished[origin]
            probs = log_probs[origin].exp()
            best = torch.where(was_finished[:, None], best[origin], torch.maximum(best[origin], probs[:, :q]))
            emits = ~was_finished & (choice < self.eos)
            emitted = emitted_before[origin, -1] | (F.one_hot(choice.clamp_max(q - 1), q).bool() & emits[:, None])
            finished = was_finished | (choice == self.eos)
            score = top.reshape(beams)
            prefix = torch.cat([prefix[origin], choice[:, None]], dim=1)
            emitted_before = torch.cat([emitted_before[origin], emitted[:, None]], dim=1)
            if bool(finished.all()):
                break
        score = torch.where(finished, score, torch.full_like(score, float("-inf"))).reshape(batch, k)
        winner = (base.squeeze(1) + score.argmax(dim=1))  # (B,)
        return emitted_before[winner, -1], best[winner], score.max(dim=1).values
