"""SGM: Sequence Generation Model for multi-label classification (Yang et al., COLING 2018).

A BiLSTM encodes the text; an LSTM decoder emits the label set as a sequence
(labels in a fixed order, most frequent in training first, then EOS), with
additive attention over the encoder states. Two ideas of the paper:

- masked softmax: a label already emitted gets -inf at later steps, so it is
  never repeated (I_t in the paper). We mask with the teacher-forced labels
  during training too, so the training targets are what decoding can emit;
- global embedding: the decoder's input is not only the embedding e of the
  previous label but a gated mix with the average of all label embeddings
  weighted by the previous step's softmax,
      e_bar = sum_i y_{t-1}(i) e_i,   H = sigmoid(W1 e + W2 e_bar),
      g(y_{t-1}) = (1 - H) * e + H * e_bar,
  which carries the uncertainty of the previous step forward (exposure bias).

Decoder step (paper eq. 2-5):
    s_t = LSTM(s_{t-1}, [g(y_{t-1}); c_{t-1}])
    c_t = sum_i a_ti h_i,  a_ti = softmax_i(v . tanh(W_a s_t + U_a h_i))   (padding masked)
    o_t = W_o tanh(W_d s_t + V_d c_t);  y_t = softmax(o_t + I_t)
Vocabulary: the q labels, EOS (id q), BOS (id q + 1, input only).

Inputs are already embeddings (GloVe text features), so the encoder reads them
after a LayerNorm instead of an embedding lookup.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from mmerbench_methods._blocks.dropout import Dropout
from mmerbench_methods._blocks.masking import masked_softmax
from mmerbench_methods._blocks.recurrent import MaskedLSTM


@dataclass
class SGMConfig:
    input_dim: int  # text feature size (300 for GloVe)
    n_labels: int  # q
    embedding_dim: int = 512  # label embeddings (paper: 512)
    encoder_hidden: int = 256  # per direction (paper: 256)
    encoder_layers: int = 2  # (paper: 2)
    decoder_hidden: int = 512  # (paper: 512)
    decoder_layers: int = 2  # (paper: 2)
    attention_dim: int = 512
    dropout: float = 0.5  # (paper: 0.5)
    global_embedding: bool = True


class AdditiveAttention(nn.Module):
    """Bahdanau attention of a decoder state over encoder states, padding masked."""

    def __init__(self, query_dim: int, key_dim: int, attention_dim: int):
        super().__init__()
        self.query = nn.Linear(query_dim, attention_dim, bias=False)
        self.key = nn.Linear(key_dim, attention_dim)
        self.score = nn.Linear(attention_dim, 1, bias=False)

    def forward(self, state: torch.Tensor, keys: torch.Tensor, projected_keys: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """state (B, Hd), keys (B, T, He), projected_keys (B, T, A), mask (B, T) -> context (B, He)."""
        scores = self.score(torch.tanh(projected_keys + self.query(state).unsqueeze(1))).squeeze(-1)  # (B, T)
        weights = masked_softmax(scores, mask)  # (B, T); all-zero when the text is missing
        return torch.bmm(weights.unsqueeze(1), keys).squeeze(1)


class GlobalEmbedding(nn.Module):
    """g(y_{t-1}) = (1 - H) * e + H * e_bar with H = sigmoid(W1 e + W2 e_bar)."""

    def __init__(self, dim: int):
        super().__init__()
        self.from_label = nn.Linear(dim, dim)
        self.from_average = nn.Linear(dim, dim)

    def forward(self, previous: torch.Tensor, previous_probs: torch.Tensor | None,
                table: torch.Tensor) -> torch.Tensor:
        """previous (B, E) embedding, previous_probs (B, q + 1) or None, table (q + 1, E) -> (B, E)."""
        if previous_probs is None:  # first step: nothing to average yet
            return previous
        average = previous_probs @ table  # (B, E)
        gate = torch.sigmoid(self.from_label(previous) + self.from_average(average))
        return (1.0 - gate) * previous + gate * average


class SGM(nn.Module):
    def __init__(self, config: SGMConfig):
        super().__init__()
        self.config = c = config
        self.eos, self.bos = c.n_labels, c.n_labels + 1
        self.input_norm = nn.LayerNorm(c.input_dim)
        self.encoder = MaskedLSTM(c.input_dim, c.encoder_hidden, layers=c.encoder_layers, bidirectional=True,
                                  dropout=c.dropout)
        encoded = self.encoder.output_dim
        self.bridge = nn.Linear(encoded, c.decoder_layers * c.decoder_hidden)  # s_0 from the final encoder state
        self.label_embedding = nn.Embedding(c.n_labels + 2, c.embedding_dim)  # labels, EOS, BOS
        self.global_embedding = GlobalEmbedding(c.embedding_dim) if c.global_embedding else None
        cells, size = [], c.embedding_dim + encoded  # input: [g(y_{t-1}); c_{t-1}]
        for _ in range(c.decoder_layers):
            cells.append(nn.LSTMCell(size, c.decoder_hidden))
            size = c.decoder_hidden
        self.cells = nn.ModuleList(cells)
        self.attention = AdditiveAttention(c.decoder_hidden, encoded, c.attention_dim)
        self.state_to_output = nn.Linear(c.decoder_hidden, c.decoder_hidden)  # W_d
        self.context_to_output = nn.Linear(encoded, c.decoder_hidden, bias=False)  # V_d
        self.output = nn.Linear(c.decoder_hidden, c.n_labels + 1)  # W_o: labels and EOS
        self.dropout = Dropout(c.dropout)

    # ---- encoder -------------------------------------------------------------------

    def encode(self, text: torch.Tensor, mask: torch.Tensor):
        """text (B, T, D), mask (B, T) -> decoder start state and attention memory."""
        states, final = self.encoder(self.input_norm(text), mask)  # (B, T, 2He), (B, 2He)
        states = self.dropout(states)
        start = torch.tanh(self.bridge(final)).view(text.shape[0], self.config.decoder_layers, -1)  # (B, L, Hd)
        hidden = [start[:, layer] for layer in range(self.config.decoder_layers)]
        cell = [torch.zeros_like(h) for h in hidden]
        memory = (states, self.attention.key(states), mask)  # keys projected once per sequence
        context = torch.zeros(text.shape[0], states.shape[-1], device=text.device, dtype=states.dtype)
        return (hidden, cell, context), memory

    # ---- one decoder step ----------------------------------------------------------

    def step(self, previous: torch.Tensor, previous_probs: torch.Tensor | None, state, memory,
             emitted: torch.Tensor):
        """previous (B,) label ids, emitted (B, q) bool -> (logits (B, q + 1) with I_t applied, new state)."""
        hidden, cell, context = state
        states, projected, mask = memory
        embedded = self.label_embedding(previous)  # (B, E)
        if self.global_embedding is not None:
            embedded = self.global_embedding(embedded, previous_probs, self.label_embedding.weight[: self.eos + 1])
        x = torch.cat([self.dropout(embedded), context], dim=-1)
        new_hidden, new_cell = [], []
        for layer, lstm in enumerate(self.cells):
            h, c = lstm(x, (hidden[layer], cell[layer]))
            new_hidden.append(h)
            new_cell.append(c)
            x = self.dropout(h)
        top = new_hidden[-1]  # s_t (B, Hd)
        context = self.attention(top, states, projected, mask)  # c_t (B, 2He)
        logits = self.output(self.dropout(torch.tanh(self.state_to_output(top) + self.context_to_output(context))))
        # I_t: a label already emitted can never be emitted again; EOS is always allowed.
        blocked = torch.cat([emitted, torch.zeros_like(emitted[:, :1])], dim=1)
        logits = logits.masked_fill(blocked, float("-inf"))
        return logits, (new_hidden, new_cell, context)

    # ---- training: teacher forcing -------------------------------------------------

    def forward(self, text: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """targets (B, S): label ids in order, then EOS, then -100 padding -> logits (B, S, q + 1)."""
        state, memory = self.encode(text, mask)
        batch, steps = targets.shape
        previous = torch.full((batch,), self.bos, dtype=torch.long, device=text.device)
        emitted = torch.zeros(batch, self.config.n_labels, dtype=torch.bool, device=text.device)
        probs, outputs = None, []
        for t in range(steps):
            logits, state = self.step(previous, probs, state, memory, emitted)
            outputs.append(logits)
            probs = torch.softmax(logits, dim=-1)
            gold = targets[:, t]
            is_label = (gold >= 0) & (gold < self.eos)
            # Teacher forcing: the next input is the gold label (EOS/padding rows feed EOS; they are ignored).
            previous = torch.where(is_label, gold, torch.full_like(gold, self.eos))
            emitted = emitted | (F.one_hot(previous.clamp_max(self.eos - 1), self.config.n_labels).bool()
                                 & is_label.unsqueeze(1))
        return torch.stack(outputs, dim=1)

    # ---- inference: greedy decoding ------------------------------------------------

    @torch.no_grad()
    def decode(self, text: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Greedy decoding -> (emitted (B, q) bool, best (B, q): each label's highest softmax
        probability over the steps up to and including the one that emitted EOS)."""
        state, memory = self.encode(text, mask)
        batch, q = text.shape[0], self.config.n_labels
        previous = torch.full((batch,), self.bos, dtype=torch.long, device=text.device)
        emitted = torch.zeros(batch, q, dtype=torch.bool, device=text.device)
        best = torch.zeros(batch, q, device=text.device)
        active = torch.ones(batch, dtype=torch.bool, device=text.device)
        probs = None
        for _ in range(q + 1):  # at most q labels, then EOS is the only choice left
            logits, state = self.step(previous, probs, state, memory, emitted)
            probs = torch.softmax(logits, dim=-1)
            best = torch.where(active.unsqueeze(1), torch.maximum(best, probs[:, :q]), best)
            choice = probs.argmax(dim=-1)  # (B,)
            emits_label = active & (choice < self.eos)
            emitted = emitted | (F.one_hot(choice.clamp_max(q - 1), q).bool() & emits_label.unsqueeze(1))
            active = emits_label
            previous = choice
            if not bool(active.any()):
                break
        return emitted, best
