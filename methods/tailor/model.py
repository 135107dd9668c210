"""TAILOR: multi-modal multi-label emotion recognition with label-specific features (Zhang et al., AAAI 2022).

Reads top to bottom:

0. Alignment (unaligned data): every non-reference modality (audio, vision)
   is softly aligned to the reference (text) time axis, as the released code
   does: a 2-layer LSTM over the source frames predicts, per frame, a
   distribution over the reference positions plus a blank (CTC-style); the
   aligned sequence is the probability-weighted sum of the frames. Its CTC
   loss (every source monotonically covering positions 1..T_text) is a
   training term. Aligned data skip this step.
1. Unimodal Transformer encoders (text 6 layers, audio and vision 4 in the
   paper configuration) -> (B, T, hidden) each.
2. Private extractors (one per modality) and one common extractor shared by
   all (Linear, dropout, tanh). The common feature is the sum of the
   modalities' common parts.
3. Adversarial training: a modality discriminator classifies private
   features (trained normally) and common features behind gradient reversal
   (so the common extractor learns to hide the modality). Orthogonality
   losses push privates apart from each other and from their common parts.
4. Granularity-descending fusion, each stage a Transformer over a
   concatenation with segment-type embeddings: (audio + vision), then
   (+ text), then (+ common).
5. Label decoder: q label queries self-attend, then attend to the fused
   sequence; one shared linear layer gives each label its logit. A common
   classifier on the (pooled) common feature adds an auxiliary BCE.

Differences from the released code, on purpose: padding is masked everywhere
(losses and attention); positions restart in each concatenated segment (the
segment type tells them apart), so results do not depend on how much padding a
batch has; the common classifier reads the masked mean of the common feature
rather than its step 0; the unimodal encoders are the shared pre-LayerNorm
:class:`ModalityEncoder` (sinusoidal positions) rather than BERT-style
post-LayerNorm blocks; dropout is not applied to logits; CTC uses torch's
per-target-length mean. With other modality names, the reference is "text"
when present (else the first modality) and the others take the place of
audio and vision.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import torch
import torch.nn.functional as F
from torch import nn

from mmerbench_methods._blocks.attention import TransformerEncoder
from mmerbench_methods._blocks.crossmodal import CrossmodalLayer
from mmerbench_methods._blocks.dropout import Dropout
from mmerbench_methods._blocks.encoders import ModalityEncoder
from mmerbench_methods._blocks.grad_reverse import grad_reverse
from mmerbench_methods._blocks.losses import sequence_orthogonality_loss
from mmerbench_methods._blocks.masking import masked_mean
from mmerbench_methods._blocks.alignment import SoftAligner, align_modalities  # shared with CARAT


@dataclass
class TAILORConfig:
    modality_dims: dict[str, int]  # modality -> raw feature dim, in the dataset's order
    n_labels: int
    reference: str  # the modality others are aligned to and fused last ("text")
    max_steps: int  # longest reference sequence: aligned positions and position table size
    soft_alignment: bool = False  # True for unaligned data (modalities of different lengths)
    hidden: int = 256
    heads: int = 8
    feedforward: int = 256  # BERT "intermediate_size" in the released configs
    dropout: float = 0.3  # hidden and attention dropout in every Transformer
    text_layers: int = 6  # reference encoder
    nonverbal_layers: int = 4  # every other modality's encoder
    fusion_layers: int = 3  # each of the three fusion stages
    decoder_layers: int = 1
    reverse_grad_scale: float = 1.0


class FusionEncoder(nn.Module):
    """A Transformer over concatenated segments, each with a type embedding (TAILOR's cross model).

    forward(segments: list of (x (B, T_i, hidden), mask (B, T_i), positions (B, T_i) long))
    -> (x (B, sum T_i, hidden), mask, positions), zero at padded steps.
    """

    def __init__(self, config: TAILORConfig, n_types: int, max_positions: int):
        super().__init__()
        self.max_positions = max_positions
        self.position_embedding = nn.Embedding(max_positions, config.hidden)
        self.type_embedding = nn.Embedding(n_types, config.hidden)
        self.norm = nn.LayerNorm(config.hidden)
        self.dropout = Dropout(config.dropout)
        self.encoder = TransformerEncoder(config.hidden, config.heads, config.fusion_layers, config.feedforward,
                                          config.dropout, activation="gelu", norm_first=False)

    def forward(self, segments):
        x = torch.cat([s[0] for s in segments], dim=1)
        mask = torch.cat([s[1] for s in segments], dim=1)
        positions = torch.cat([s[2] for s in segments], dim=1)
        types = torch.cat([torch.full_like(s[2], i) for i, s in enumerate(segments)], dim=1)
        # Positions beyond the table (longer sequences than in training) share its last row.
        embedded = x + self.position_embedding(positions.clamp_max(self.max_positions - 1)) + self.type_embedding(types)
        h = self.dropout(self.norm(embedded))
        h = self.encoder(h, mask)  # a sample with nothing valid gets zeros, not NaN
        return h * mask.unsqueeze(-1).to(h.dtype), mask, positions


def _positions(mask: torch.Tensor) -> torch.Tensor:
    return torch.arange(mask.shape[1], device=mask.device).expand(mask.shape[0], -1)


class TAILOR(nn.Module):
    def __init__(self, config: TAILORConfig):
        super().__init__()
        self.config = config
        self.modalities = list(config.modality_dims)
        if config.reference not in self.modalities:
            raise ValueError(f"reference modality {config.reference!r} is not among {self.modalities}")
        self.others = [m for m in self.modalities if m != config.reference]
        h = config.hidden
        self.aligners = nn.ModuleDict({
            m: SoftAligner(config.modality_dims[m], config.max_steps) for m in self.others
        }) if config.soft_alignment else nn.ModuleDict()
        self.encoders = nn.ModuleDict({
            m: ModalityEncoder(dim, h, config.text_layers if m == config.reference else config.nonverbal_layers,
                               config.heads, config.dropout, config.feedforward, activation="gelu")
            for m, dim in config.modality_dims.items()
        })
        self.private = nn.ModuleDict({
            m: nn.Sequential(nn.Linear(h, h), Dropout(0.1), nn.Tanh()) for m in self.modalities
        })
        self.common = nn.Sequential(nn.Linear(h, h), Dropout(0.3), nn.Tanh())
        self.discriminator = nn.Sequential(
            nn.Linear(h, h // 2), Dropout(0.1), nn.ReLU(), nn.Linear(h // 2, len(self.modalities))
        )
        max_positions = max(config.max_steps, 1)
        self.fuse_others = FusionEncoder(config, len(self.others), max_positions) if self.others else None
        self.fuse_reference = FusionEncoder(config, 2, max_positions)
        self.fuse_common = FusionEncoder(config, 2, max_positions)
        self.label_embedding = nn.Embedding(config.n_labels, h)
        self.label_norm = nn.LayerNorm(h)
        self.label_dropout = Dropout(config.dropout)
        self.decoder = nn.ModuleList([
            CrossmodalLayer(h, config.heads, config.feedforward, config.dropout, 0.0, config.dropout,
                            activation="gelu", norm_first=False, self_attention=True)
            for _ in range(config.decoder_layers)
        ])
        self.label_classifier = nn.Linear(h, 1)  # shared by all labels, applied to each label's vector
        self.common_classifier = nn.Linear(h, config.n_labels)

    # ---- step 0: equal lengths -----------------------------------------------------------

    def align(self, features, masks):
        """-> (features, masks) all on the reference's time axis, and CTC log-probs per aligned modality."""
        reference = self.config.reference
        if not self.config.soft_alignment:
            steps = max(x.shape[1] for x in features.values())
            padded = {m: F.pad(x, (0, 0, 0, steps - x.shape[1])) for m, x in features.items()}
            padded_masks = {m: F.pad(k, (0, steps - k.shape[1])) for m, k in masks.items()}
            return padded, padded_masks, {}
        steps = features[reference].shape[1]
        if steps > self.config.max_steps:
            raise ValueError(
                f"the {reference!r} sequence has {steps} steps, more than the {self.config.max_steps} "
                "positions the soft alignment was built for (the longest in training)"
            )
        # The shared rule: aligned to all max_steps positions (a sample does not depend on its
        # batch), valid where the reference is -- or everywhere for a sample without the
        # reference, so that its audio and vision are not dropped with the missing text.
        aligned, aligned_masks, log_probs = align_modalities(self.aligners, features, masks, reference)
        pad = self.config.max_steps - steps
        aligned[reference] = F.pad(features[reference], (0, 0, 0, pad))
        aligned_masks[reference] = F.pad(masks[reference], (0, pad))
        return aligned, aligned_masks, log_probs

    # ---- the whole model ---------------------------------------------------------------

    def forward(self, features, masks) -> dict[str, object]:
        """features: modality -> (B, T_m, D_m); masks: modality -> (B, T_m).

        -> {"logits": (B, q), "common_logits": (B, q), and the parts the losses need}.
        """
        source_masks = masks
        features, masks, log_probs = self.align(features, masks)
        keep = {m: masks[m].unsqueeze(-1).float() for m in self.modalities}
        encoded = {m: self.encoders[m](features[m], masks[m]) for m in self.modalities}  # (B, T, h) each
        private = {m: self.private[m](encoded[m]) * keep[m] for m in self.modalities}
        common = {m: self.common(encoded[m]) * keep[m] for m in self.modalities}
        common_feature = sum(common.values())  # (B, T, h)
        common_mask = torch.stack([masks[m] for m in self.modalities]).any(dim=0)  # (B, T)

        reference = self.config.reference
        ref_segment = (private[reference], masks[reference], _positions(masks[reference]))
        segments = [ref_segment]
        if self.fuse_others is not None:
            others = self.fuse_others([(private[m], masks[m], _positions(masks[m])) for m in self.others])
            segments.append(others)
        fused = self.fuse_reference(segments)
        fused, fused_mask, _ = self.fuse_common([fused, (common_feature, common_mask, _positions(common_mask))])

        batch = fused.shape[0]
        # Dropout after expanding: each sample gets its own mask, as in the released code.
        queries = self.label_dropout(self.label_norm(self.label_embedding.weight).expand(batch, -1, -1))
        query_mask = torch.ones(queries.shape[:2], dtype=torch.bool, device=queries.device)
        for layer in self.decoder:
            queries = layer(queries, query_mask, fused, fused_mask)  # (B, q, h)
        logits = self.label_classifier(queries).squeeze(-1)  # (B, q)
        common_logits = self.common_classifier(masked_mean(common_feature, common_mask))
        return {"logits": logits, "common_logits": common_logits, "private": private, "common": common,
                "masks": masks, "log_probs": log_probs, "source_masks": source_masks}

    # ---- auxiliary losses ----------------------------------------------------------------

    def adversarial_loss(self, out) -> torch.Tensor:
        """Modality discrimination: privates as they are, commons behind gradient reversal."""
        total = out["logits"].new_zeros(())
        for index, m in enumerate(self.modalities):
            valid = out["masks"][m]
            if not valid.any():
                continue
            target = torch.full((int(valid.sum()),), index, dtype=torch.long, device=valid.device)
            private_scores = self.discriminator(out["private"][m][valid])
            common_scores = self.discriminator(grad_reverse(out["common"][m][valid], self.config.reverse_grad_scale))
            total = total + F.cross_entropy(private_scores, target) + F.cross_entropy(common_scores, target)
        return total

    def orthogonality_loss(self, out) -> torch.Tensor:
        """Privates against each other, and each common part against its private part."""
        private, common = out["private"], out["common"]
        total = out["logits"].new_zeros(())
        for a, b in combinations(self.modalities, 2):
            total = total + sequence_orthogonality_loss(private[a], private[b])
        for m in self.modalities:
            total = total + sequence_orthogonality_loss(common[m], private[m])
        return total

    def ctc_loss(self, out) -> torch.Tensor:
        """Each aligned source should cover the reference positions 1..L in order (CTC, blank 0)."""
        total = out["logits"].new_zeros(())
        if not out["log_probs"]:
            return total
        source_masks = out["source_masks"]
        target_lengths = source_masks[self.config.reference].sum(dim=1)  # (B,)
        # Padded target form (B, S): sample i's target is positions 1..target_lengths[i].
        steps = source_masks[self.config.reference].shape[1]
        targets = torch.arange(1, steps + 1, device=target_lengths.device).expand(len(target_lengths), -1)
        for m, log_probs in out["log_probs"].items():
            input_lengths = source_masks[m].sum(dim=1)
            total = total + F.ctc_loss(log_probs.transpose(0, 1), targets, input_lengths, target_lengths,
                                       blank=0, reduction="mean", zero_infinity=True)
        return total
