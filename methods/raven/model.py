"""RAVEN (Wang et al., AAAI 2019, "Words Can Shift"): nonverbal behaviour shifts word representations.

For every word, the audio and vision frames within the word's span go
through a nonverbal sub-network (LSTM, last state). A gate computed from the
nonverbal state and the word decides how much each modality contributes to a
shift vector h; the word embedding e is moved to e + alpha * h with
alpha = min(beta * ||e|| / ||h||, 1), so the shift never exceeds a fraction
beta of the word's own norm. An LSTM reads the shifted words; its last state
predicts the labels.

Frames are assigned to words by ``methods/_blocks/word_spans.py`` (uniform
spans): on aligned data each word owns its own frame, on unaligned data the
frames between it and the next word.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from mmerbench_methods._blocks.dropout import Dropout
from mmerbench_methods._blocks.recurrent import MaskedLSTM
from mmerbench_methods._blocks.word_spans import gather_spans, span_index

GATES = ("sigmoid", "linear")
SHIFT_BOUNDS = ("paper", "code")


@dataclass
class RAVENConfig:
    modality_dims: dict[str, int]  # modality -> feature dim; must contain the word modality
    n_labels: int
    word_modality: str = "text"
    input_dim: int = 150  # nonverbal frames are projected to this size (code: normDim)
    cell_dim: int = 150  # nonverbal sub-network LSTM size (code: cellDim)
    hidden: int = 300  # word LSTM size (code: hiddenDim)
    shift_weight: float = 0.2  # beta: the shift is at most this fraction of the word's norm
    dropout: float = 0.2
    gate: str = "sigmoid"  # "sigmoid" (paper eq. 2) or "linear" (the released code: no squashing)
    shift_bound: str = "paper"  # "paper": alpha = min(beta |e| / |h|, 1); "code": h / max(|h|, 1) * beta |e|
    nonverbal: list[str] = field(default_factory=list)  # filled in __post_init__ when empty

    def __post_init__(self):
        if self.word_modality not in self.modality_dims:
            raise ValueError(f"RAVEN needs the word modality {self.word_modality!r}; "
                             f"the data has {sorted(self.modality_dims)}")
        if self.gate not in GATES:
            raise ValueError(f"gate={self.gate!r} is not valid: use one of {', '.join(GATES)}")
        if self.shift_bound not in SHIFT_BOUNDS:
            raise ValueError(f"shift_bound={self.shift_bound!r} is not valid: use one of {', '.join(SHIFT_BOUNDS)}")
        if not self.nonverbal:
            self.nonverbal = [m for m in self.modality_dims if m != self.word_modality]


def bounded_shift(words: torch.Tensor, shift: torch.Tensor, weight: float, bound: str) -> torch.Tensor:
    """words (..., D) moved by ``shift`` (..., D) whose norm is at most ``weight`` * |word|."""
    word_norm = words.norm(dim=-1, keepdim=True)
    shift_norm = shift.norm(dim=-1, keepdim=True)
    if bound == "paper":
        alpha = torch.clamp(weight * word_norm / shift_norm.clamp_min(1e-8), max=1.0)
        return words + alpha * shift
    # Released code: the shift is normalised only when its norm exceeds 1, then scaled by beta |e|.
    return words + shift / shift_norm.clamp_min(1.0) * weight * word_norm


class RAVEN(nn.Module):
    def __init__(self, config: RAVENConfig):
        super().__init__()
        self.config = config
        word_dim = config.modality_dims[config.word_modality]
        # LayerNorm, not the code's BatchNorm without running statistics: that one makes a
        # sample's prediction depend on the other samples of its batch.
        self.norm = nn.ModuleDict({m: nn.LayerNorm(config.modality_dims[m]) for m in config.nonverbal})
        self.project = nn.ModuleDict({m: nn.Linear(config.modality_dims[m], config.input_dim)
                                      for m in config.nonverbal})
        self.subnetwork = nn.ModuleDict({m: MaskedLSTM(config.input_dim, config.cell_dim, bidirectional=False)
                                         for m in config.nonverbal})
        self.gate = nn.ModuleDict({m: nn.Linear(config.cell_dim + word_dim, 1) for m in config.nonverbal})
        self.to_shift = nn.Linear(config.cell_dim * len(config.nonverbal), word_dim)
        self.dropout = Dropout(config.dropout)
        self.word_lstm = MaskedLSTM(word_dim, config.hidden, bidirectional=False)
        self.out = nn.Linear(config.hidden, config.n_labels)

    def nonverbal_states(self, m: str, x: torch.Tensor, mask: torch.Tensor, word_mask: torch.Tensor) -> torch.Tensor:
        """Frames of modality m -> one sub-network state per word (B, T_w, cell_dim); zeros without frames."""
        batch, words = word_mask.shape
        index, valid = span_index(word_mask.sum(1), mask.sum(1), words)  # (B, T_w, S)
        frames = self.project[m](self.dropout(self.norm[m](x)))  # (B, T_m, input_dim)
        spans = gather_spans(frames, index, valid)  # (B, T_w, S, input_dim)
        _, final = self.subnetwork[m](spans.flatten(0, 1), valid.flatten(0, 1))  # (B * T_w, cell_dim)
        return final.view(batch, words, -1)

    def shifted_words(self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, T_w, word_dim): each word moved by its gated, norm-bounded nonverbal shift."""
        words, word_mask = features[self.config.word_modality], masks[self.config.word_modality]
        parts = []
        for m in self.config.nonverbal:
            state = self.nonverbal_states(m, features[m], masks[m], word_mask)  # (B, T_w, cell)
            weight = self.gate[m](torch.cat([state, words], dim=-1))  # (B, T_w, 1)
            if self.config.gate == "sigmoid":
                weight = torch.sigmoid(weight)
            parts.append(weight * state)
        shift = self.to_shift(torch.cat(parts, dim=-1))  # (B, T_w, word_dim)
        shifted = bounded_shift(words, shift, self.config.shift_weight, self.config.shift_bound)
        return shifted * word_mask.unsqueeze(-1).to(shifted.dtype)

    def forward(self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> torch.Tensor:
        """-> logits (B, q); a sample without words gets the output layer's bias alone."""
        word_mask = masks[self.config.word_modality]
        words = self.dropout(self.shifted_words(features, masks))
        _, final = self.word_lstm(words, word_mask)  # (B, hidden), zeros without words
        return self.out(final)
