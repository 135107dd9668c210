"""MISA: modality-invariant and -specific representations (Hazarika et al., ACM MM 2020).

Reads top to bottom:

1. Utterance vectors: per modality two stacked bidirectional LSTMs with a
   LayerNorm between them; the utterance vector is the concatenation of both
   layers' final states (forward and backward): 4 * rnn_hidden.
2. Each utterance vector is projected to ``hidden`` (Linear, ReLU, LayerNorm).
3. Shared (invariant) encoder, one for all modalities, and a private
   (specific) encoder per modality: Linear + sigmoid each.
4. Reconstruction: per modality, a Linear maps private + shared back to the
   projected utterance vector.
5. Fusion: a one-layer Transformer over the 2M vectors (privates, then
   shareds), concatenated, then Linear -> dropout -> ReLU -> Linear to one
   logit per label.

Losses (see :meth:`MISA.losses`): task BCE + diff_weight * difference (soft
orthogonality between each shared/private pair and between privates) +
sim_weight * similarity (CMD between every pair of shared vectors, or the
adversarial modality discriminator behind gradient reversal) +
recon_weight * reconstruction (MSE).

Text uses the LSTM path (the released code's non-BERT option), since
features, not tokens, are the input. The released code's unused
shared-private discriminator (weight 0) is left out. A missing modality
(length 0) gives a zero utterance vector.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import torch
import torch.nn.functional as F
from torch import nn

from mmerbench_methods._blocks.attention import TransformerEncoder
from mmerbench_methods._blocks.dropout import Dropout
from mmerbench_methods._blocks.grad_reverse import grad_reverse
from mmerbench_methods._blocks.losses import cmd, difference_loss
from mmerbench_methods._blocks.recurrent import MaskedLSTM

SIMILARITY_LOSSES = ("cmd", "adversarial")


@dataclass
class MISAConfig:
    modality_dims: dict[str, int]  # modality -> raw feature dim, in the dataset's order
    n_labels: int
    rnn_hidden: int = 0  # LSTM width per direction; 0 = the modality's feature dim (as MISA)
    hidden: int = 128  # width of the shared / private space
    dropout: float = 0.5  # in the fusion head (and the discriminator)
    fusion_heads: int = 2  # heads of the one-layer fusion Transformer
    fusion_feedforward: int = 2048  # torch's default, which MISA keeps
    similarity: str = "cmd"  # "cmd" (MISA's default) or "adversarial"
    cmd_moments: int = 5
    reverse_grad_weight: float = 1.0  # for the adversarial similarity


class UtteranceEncoder(nn.Module):
    """Two stacked BiLSTMs with a LayerNorm in between -> (B, 4 * hidden)."""

    def __init__(self, input_dim: int, hidden: int):
        super().__init__()
        self.first = MaskedLSTM(input_dim, hidden, bidirectional=True)
        self.norm = nn.LayerNorm(2 * hidden)
        self.second = MaskedLSTM(2 * hidden, hidden, bidirectional=True)
        self.output_dim = 4 * hidden

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        outputs, final_first = self.first(x, mask)  # (B, T, 2h), (B, 2h)
        _, final_second = self.second(self.norm(outputs), mask)  # (B, 2h)
        return torch.cat([final_first, final_second], dim=-1)  # (B, 4h)


class MISA(nn.Module):
    def __init__(self, config: MISAConfig):
        super().__init__()
        if config.similarity not in SIMILARITY_LOSSES:
            raise ValueError(f"similarity={config.similarity!r} is not valid: use one of {', '.join(SIMILARITY_LOSSES)}")
        self.config = config
        self.modalities = list(config.modality_dims)
        h = config.hidden
        self.utterance = nn.ModuleDict({
            m: UtteranceEncoder(dim, config.rnn_hidden or dim) for m, dim in config.modality_dims.items()
        })
        self.project = nn.ModuleDict({
            m: nn.Sequential(nn.Linear(self.utterance[m].output_dim, h), nn.ReLU(), nn.LayerNorm(h))
            for m in self.modalities
        })
        self.private = nn.ModuleDict({m: nn.Sequential(nn.Linear(h, h), nn.Sigmoid()) for m in self.modalities})
        self.shared = nn.Sequential(nn.Linear(h, h), nn.Sigmoid())
        self.reconstruct = nn.ModuleDict({m: nn.Linear(h, h) for m in self.modalities})
        if config.similarity == "adversarial":
            self.discriminator = nn.Sequential(
                nn.Linear(h, h), nn.ReLU(), Dropout(config.dropout), nn.Linear(h, len(self.modalities))
            )
        # One post-LN layer, dropout 0.1 (nn.TransformerEncoderLayer's defaults, as in MISA's code).
        self.fusion_transformer = TransformerEncoder(h, config.fusion_heads, 1, config.fusion_feedforward, 0.1,
                                                     "relu", norm_first=False)
        n_vectors = 2 * len(self.modalities)
        self.head = nn.Sequential(
            nn.Linear(n_vectors * h, n_vectors * h // 2), Dropout(config.dropout), nn.ReLU(),
            nn.Linear(n_vectors * h // 2, config.n_labels),
        )
        # MISA initialises the LSTMs' recurrent weights orthogonally.
        for name, parameter in self.named_parameters():
            if "weight_hh" in name:
                nn.init.orthogonal_(parameter)

    def forward(self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> dict[str, object]:
        """-> {"logits": (B, q), and per modality (B, hidden): "projected", "private", "shared", "reconstructed"}."""
        projected = {m: self.project[m](self.utterance[m](features[m], masks[m])) for m in self.modalities}
        private = {m: self.private[m](projected[m]) for m in self.modalities}
        shared = {m: self.shared(projected[m]) for m in self.modalities}
        reconstructed = {m: self.reconstruct[m](private[m] + shared[m]) for m in self.modalities}

        tokens = torch.stack([private[m] for m in self.modalities] + [shared[m] for m in self.modalities], dim=1)
        every = torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
        fused = self.fusion_transformer(tokens, every)  # (B, 2M, hidden)
        logits = self.head(fused.flatten(1))  # (B, q)
        return {"logits": logits, "projected": projected, "private": private, "shared": shared,
                "reconstructed": reconstructed}

    def losses(self, out: dict[str, object]) -> dict[str, torch.Tensor]:
        """The auxiliary terms (unweighted): difference, similarity, reconstruction."""
        modalities = self.modalities
        private, shared = out["private"], out["shared"]
        difference = sum(difference_loss(private[m], shared[m]) for m in modalities)
        for a, b in combinations(modalities, 2):
            difference = difference + difference_loss(private[a], private[b])
        pairs = list(combinations(modalities, 2))
        if self.config.similarity == "cmd":
            similarity = sum(cmd(shared[a], shared[b], self.config.cmd_moments) for a, b in pairs) / max(len(pairs), 1)
        else:
            predicted = torch.cat([
                self.discriminator(grad_reverse(shared[m], self.config.reverse_grad_weight)) for m in modalities
            ])  # (M B, M)
            batch = shared[modalities[0]].shape[0]
            target = torch.arange(len(modalities), device=predicted.device).repeat_interleave(batch)
            similarity = F.cross_entropy(predicted, target)
        reconstruction = sum(
            F.mse_loss(out["reconstructed"][m], out["projected"][m]) for m in modalities
        ) / len(modalities)
        zero = out["logits"].new_zeros(())
        return {"difference": difference + zero, "similarity": similarity + zero, "reconstruction": reconstruction}
