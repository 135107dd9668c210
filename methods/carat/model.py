"""CARAT: ContrAstive feature Reconstruction and AggregaTion for MMER (Peng et al., AAAI 2024).

Reads top to bottom; M modalities (text, visual, audio in the paper), q labels,
hidden d (256), latent p (64). Every step follows the released code
(chengzju/CARAT, ``models/models.py``) unless "deviation" says otherwise.

0. Alignment (unaligned data only, ``alignment="soft"``): non-reference
   modalities are softly aligned to the text's positions by the CTC-style
   module (``_blocks/alignment.py``), as the released code does. Label-wise
   attention (step 2) works for any length, so ``alignment="none"`` skips it.
1. Per modality: LayerNorm, Transformer encoder (text 6 layers, others 4;
   8 heads, feed-forward 256, dropout 0.3)                       -> (B, T_m, d)
2. Label-wise attention per modality, one query per label, padding masked
   (``_blocks/label_attention.py``): label-specific representations
   r_m = LSR_m, attention-weighted averages of the frames         -> (B, q, d)
   Deviation: the scores come from the shared block's label and frame
   projections with a 1/sqrt(d) scale rather than the released code's bare
   Linear(d, q); the values are the frames themselves, as released.
3. Latent encoder/decoder per modality (MLPs d -> d/2 -> p -> d/2 -> d):
   z_m = Enc_m(r_m) (B, q, p), recon_m = Dec_m(z_m).
4. Momentum prototypes per modality and label, for "present" and "absent"
   (``_blocks/prototypes.py``, m = 0.99), updated after each step with the
   normalised z_m of the batch. A modality's prototype filling
   pad_m = Dec_m(sum_s w_s proto_s) with w = softmax over {present, absent} of
   the cosine similarity of z_m to each (training), or the more similar
   prototype alone (inference).
5. Cross-modal feature reconstruction, two levels, with one reconstruction
   net G_m per modality (Linear(M d, d)):
     level 1  aug_m  = G_m([recon_1, .., pad_m (in m's slot), .., recon_M])
     level 2  beta_m = G_m([aug_1, .., aug_M])
6. Classifiers: per modality a weight matrix W_m (q, d); logits of a level are
   the max over modalities of <feature_m[:, j], W_m[j]>. Levels: r (weight
   0.01), aug (0.1), beta (1.0) in the BCE.
7. Aggregation: Agg (MLP q d -> d -> q) reads a modality's whole beta_m;
   its BCE against the labels (weight 1.0). Shuffle aggregation: for each
   label and modality the batch is permuted, and for each label and sample
   the modalities are permuted, building new samples whose label j comes
   from another sample; their Agg BCE has weight 0.1.
8. SupCon (temperature 0.07) over the normalised latents of the three levels
   (z_m, Enc_m(aug_m), Enc_m(beta_m)); class = (modality, label, present or
   absent), 6q classes for 3 modalities; a FIFO queue (8192) of past rows
   adds negatives and positives. Deviations: the queue starts empty (the
   released code fills it with random vectors labelled with random floats);
   anchors are the batch rows (``queue_anchors=True`` makes every queue row
   an anchor too, as the released code does, at (batch + queue)^2 cost).
9. Reconstruction MSE: MSE(recon_m, r_m) (1.0), MSE(aug_m, r_m) (1.0),
   MSE(beta_m, r_m) (0.0 in the released run script). As released, r_m is
   not detached, so these terms also pull r_m towards its reconstructions;
   ``detach_reconstruction_targets=True`` makes r_m a fixed target (at small
   scale the undetached terms kept CARAT at the prior; see tests/test_carat.py).
10. Prediction: (mean_m sigmoid(Agg(beta_m)) + sigmoid(max_m beta logits)) / 2;
    the published threshold on it is 0.25.

Missing modalities (deviation; the released code has none): a modality a
sample lacks has r_m = 0; it is left out of the level-1 max, of its r_m
targets in the MSE terms, of the prototype update and of the level-1 SupCon
rows. Its reconstructed features (aug, beta) are used as usual: filling in a
missing modality is what reconstruction is for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from mmerbench_methods._blocks.alignment import SoftAligner, align_modalities
from mmerbench_methods._blocks.encoders import ModalityEncoder
from mmerbench_methods._blocks.label_attention import LabelWiseAttention
from mmerbench_methods._blocks.prototypes import MomentumPrototypes
from mmerbench_methods._blocks.supcon import EmbeddingQueue, supervised_contrastive_loss


@dataclass
class CARATConfig:
    modality_dims: dict[str, int] = field(default_factory=dict)  # ordered modality -> raw feature size
    n_labels: int = 6
    reference: str = "text"  # soft alignment target; gets the deeper encoder
    align_steps: int = 0  # > 0: align the other modalities to this many reference positions
    hidden: int = 256  # d
    latent: int = 64  # p (proj_size)
    heads: int = 8
    feedforward: int = 256  # BERT intermediate_size in the released configs
    dropout: float = 0.3
    label_dropout: float = 0.0  # on the label representations (the released code has none)
    reference_layers: int = 6  # text
    other_layers: int = 4  # visual, audio
    prototype_momentum: float = 0.99
    queue_size: int = 8192
    temperature: float = 0.07
    queue_anchors: bool = False


def mlp(sizes: list[int], output: int) -> nn.Sequential:
    """The released code's MLLinear: Linear+ReLU through ``sizes``, then a Linear to ``output``."""
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers.append(nn.Linear(sizes[-1], output))
    for layer in layers:
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
    return nn.Sequential(*layers)


def max_over_modalities(logits: torch.Tensor, present: torch.Tensor | None = None) -> torch.Tensor:
    """(B, M, q) -> (B, q); with ``present`` (B, M), absent modalities are ignored (0 when none)."""
    if present is None:
        return logits.max(dim=1).values
    filled = logits.masked_fill(~present.unsqueeze(-1), float("-inf")).max(dim=1).values
    return torch.where(torch.isfinite(filled), filled, torch.zeros_like(filled))


class CARAT(nn.Module):
    def __init__(self, config: CARATConfig):
        super().__init__()
        self.config = c = config
        self.modalities = list(c.modality_dims)
        d, q = c.hidden, c.n_labels
        self.aligners = nn.ModuleDict({
            m: SoftAligner(dim, c.align_steps) for m, dim in c.modality_dims.items() if m != c.reference
        }) if c.align_steps > 0 else nn.ModuleDict()
        self.encoders = nn.ModuleDict({
            m: ModalityEncoder(dim, d, c.reference_layers if m == c.reference else c.other_layers, c.heads,
                               c.dropout, c.feedforward, activation="gelu")
            for m, dim in c.modality_dims.items()
        })
        self.label_queries = nn.ParameterDict({m: nn.Parameter(torch.randn(q, d) / d ** 0.5) for m in self.modalities})
        self.label_attention = nn.ModuleDict({
            m: LabelWiseAttention(d, d, d, d, c.label_dropout, project_values=False) for m in self.modalities
        })
        self.latent_encoders = nn.ModuleDict({m: mlp([d, d // 2], c.latent) for m in self.modalities})
        self.latent_decoders = nn.ModuleDict({m: mlp([c.latent, d // 2], d) for m in self.modalities})
        self.prototypes = nn.ModuleDict({
            m: MomentumPrototypes(q, c.latent, c.prototype_momentum) for m in self.modalities
        })
        self.reconstructors = nn.ModuleDict({m: mlp([d * len(self.modalities)], d) for m in self.modalities})
        self.classifiers = nn.ParameterDict({m: nn.Parameter(torch.empty(q, d)) for m in self.modalities})
        for weight in self.classifiers.values():
            nn.init.kaiming_uniform_(weight, a=5 ** 0.5)
        self.aggregator = mlp([d * q, d], q)
        self.queue = EmbeddingQueue(c.queue_size, c.latent)

    # ---- steps 0-3 -----------------------------------------------------------------

    def label_representations(self, features, masks):
        """-> r (B, M, q, d) and present (B, M) bool."""
        if len(self.aligners):
            features, masks, _ = align_modalities(self.aligners, features, masks, self.config.reference)
        r, present = [], []
        for m in self.modalities:
            frames = self.encoders[m](features[m], masks[m])  # (B, T_m, d)
            context, _ = self.label_attention[m](self.label_queries[m], frames, masks[m])  # (B, q, d)
            present.append(masks[m].any(dim=1))
            r.append(context * present[-1][:, None, None].to(context.dtype))  # exactly 0 when missing
        return torch.stack(r, dim=1), torch.stack(present, dim=1)

    def per_modality(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Apply each modality's module ``name`` to its slice of x (B, M, ...)."""
        modules = getattr(self, name)
        return torch.stack([modules[m](x[:, i]) for i, m in enumerate(self.modalities)], dim=1)

    # ---- step 4 --------------------------------------------------------------------

    def prototype_filling(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, M, q, p) -> each modality's prototype-based latent (B, M, q, p)."""
        filled = []
        for i, m in enumerate(self.modalities):
            prototypes = self.prototypes[m].stacked()  # (2, q, p): present, absent
            similarity = torch.einsum("bqp,sqp->bqs", F.normalize(z[:, i], dim=-1), prototypes)
            if self.training:
                weights = torch.softmax(similarity, dim=-1)  # (B, q, 2)
            else:
                weights = F.one_hot(similarity.argmax(dim=-1), 2).to(z.dtype)  # the nearer prototype
            filled.append(torch.einsum("bqs,sqp->bqp", weights, prototypes))
        return torch.stack(filled, dim=1)

    # ---- steps 5-7 -----------------------------------------------------------------

    def reconstruct(self, inputs: torch.Tensor) -> torch.Tensor:
        """inputs (B, M, M, q, d): for each target modality the M features to read -> (B, M, q, d)."""
        b, m, _, q, d = inputs.shape
        flat = inputs.permute(0, 1, 3, 2, 4).reshape(b, m, q, m * d)  # concatenate sources per label
        return torch.stack([self.reconstructors[name](flat[:, i]) for i, name in enumerate(self.modalities)], dim=1)

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, M, q, d) -> per-modality logits (B, M, q)."""
        weights = torch.stack([self.classifiers[m] for m in self.modalities])  # (M, q, d)
        return torch.einsum("bmqd,mqd->bmq", x, weights)

    def aggregate(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, M, q, d) -> Agg logits (B, M, q) from each modality's flattened label features."""
        return self.aggregator(x.reshape(x.shape[0], x.shape[1], -1))

    def forward(self, features, masks) -> dict[str, torch.Tensor]:
        r, present = self.label_representations(features, masks)  # (B, M, q, d), (B, M)
        z = self.per_modality("latent_encoders", r)  # (B, M, q, p)
        recon = self.per_modality("latent_decoders", z)  # (B, M, q, d)
        filling = self.per_modality("latent_decoders", self.prototype_filling(z))  # (B, M, q, d)
        m = len(self.modalities)
        own = torch.eye(m, dtype=torch.bool, device=r.device)[None, :, :, None, None]  # target == source slot
        level1_inputs = torch.where(own, filling.unsqueeze(2), recon.unsqueeze(1))  # (B, M, M, q, d)
        aug = self.reconstruct(level1_inputs)  # (B, M, q, d)
        beta = self.reconstruct(aug.unsqueeze(1).expand(-1, m, -1, -1, -1))  # (B, M, q, d)
        beta_logits = max_over_modalities(self.scores(beta))  # (B, q)
        agg_logits = self.aggregate(beta)  # (B, M, q)
        proba = 0.5 * (torch.sigmoid(agg_logits).mean(dim=1) + torch.sigmoid(beta_logits))
        return {"r": r, "present": present, "z": z, "recon": recon, "aug": aug, "beta": beta,
                "r_logits": max_over_modalities(self.scores(r), present),
                "aug_logits": max_over_modalities(self.scores(aug)), "beta_logits": beta_logits,
                "agg_logits": agg_logits, "proba": proba}

    # ---- training-only parts -------------------------------------------------------

    def shuffled_aggregation(self, beta: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Shuffle-based sample and modality aggregation -> (Agg logits (B, M, q), their labels (B, M, q)).

        New sample (b, m) takes label j's feature from sample S[b, m, j] and
        modality P[b, m, j], where S permutes the batch per (label, modality)
        and P permutes the modalities per (label, sample).
        """
        b, m, q, _ = beta.shape
        device = beta.device
        sample = torch.argsort(torch.rand(q, m, b, device=device), dim=-1).permute(2, 1, 0)  # (B, M, q)
        modality = torch.argsort(torch.rand(q, b, m, device=device), dim=-1).permute(1, 2, 0)  # (B, M, q)
        label = torch.arange(q, device=device).expand(b, m, q)
        mixed = beta[sample, modality, label]  # (B, M, q, d)
        return self.aggregate(mixed), labels[sample, label]

    def contrastive_rows(self, out: dict[str, torch.Tensor], labels: torch.Tensor):
        """Normalised latents of the three levels and their classes (modality, label, present/absent)."""
        b, m, q = out["z"].shape[0], len(self.modalities), labels.shape[1]
        levels = [out["z"], self.per_modality("latent_encoders", out["aug"]),
                  self.per_modality("latent_encoders", out["beta"])]  # each (B, M, q, p)
        modality_index = torch.arange(m, device=labels.device).view(1, m, 1)
        absent = (labels < 0.5).long().unsqueeze(1)  # (B, 1, q)
        classes = torch.arange(q, device=labels.device).view(1, 1, q) + q * (2 * modality_index + absent)  # (B, M, q)
        keep = out["present"].unsqueeze(-1).expand(b, m, q)  # level 1 of a missing modality is left out
        rows, row_classes = [], []
        for level, features in enumerate(levels):
            chosen = keep if level == 0 else torch.ones_like(keep)
            rows.append(F.normalize(features[chosen], dim=-1))
            row_classes.append(classes.expand(b, m, q)[chosen])
        return torch.cat(rows), torch.cat(row_classes)

    def contrastive_loss(self, out: dict[str, torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        rows, classes = self.contrastive_rows(out, labels)
        queued, queued_classes = self.queue.contents()
        loss = supervised_contrastive_loss(rows, classes, temperature=self.config.temperature,
                                           queue_embeddings=queued, queue_classes=queued_classes,
                                           queue_anchors=self.config.queue_anchors)
        self.queue.enqueue(rows.detach(), classes)
        return loss

    @torch.no_grad()
    def update_prototypes(self, z: torch.Tensor, labels: torch.Tensor, present: torch.Tensor) -> None:
        for i, m in enumerate(self.modalities):
            self.prototypes[m].update(F.normalize(z[:, i], dim=-1), labels, valid=present[:, i])
