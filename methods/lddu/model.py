"""LDDU: Latent Distribution Decouple for Uncertainty-aware MMER (Huang et al., ACL Findings 2025).

The network, top to bottom (M modalities, q labels, B samples):

1. per modality: input LayerNorm + Transformer encoder       -> O^m (B, T_m, hidden)
2. emotion space: q label embeddings attend over O^m (masked) -> Z^m (B, q, emotion_dim)
3. info classifier on [Z^1; ...; Z^M] per label               -> y_dir (B, q)
4. per modality an MLP encoder gives, per label, a Gaussian   -> mu^m, sigma^m (B, q, latent)
5. uncertainty-aware fusion per label:
       y_mu = MLP_j([mu^1; ...; mu^M]), y_sigma = MLP_j([sigma^1; ...; sigma^M])
       y    = g * y_mu + (1 - g) * y_sigma,   g = y_dir (or the truth-aware gate while training)

Differences from the released code's network (``src/models/myModels.py``),
by default (``encoder_style="pre-ln"``, ``latent_init="pytorch"``), all in
the encoder of step 1 (the shared ``ModalityEncoder``): pre-LN
Transformer layers (the code's BERT layers are post-LN), fixed sinusoidal
positions (code: learned position embeddings, 60 of them, which cannot
cover 500-frame unaligned inputs), ReLU feed-forward (code: GELU), dropout
on the residual branches only (code: also 0.3 on the attention
probabilities), PyTorch's default initialisation (code: normal(0, 0.02) in
the encoders), and padded frames masked in the label-wise attention (the
code's attention softmax also covers padding). Everything after the
encoders follows the code's shapes; the latent encoder keeps PyTorch's
default initialisation where the code uses Xavier. ``encoder_style="bert"``
(``BertStyleEncoder``: post-LN, learned positions, GELU, normal(0, 0.02)
initialisation, LayerNorm eps 1e-12) and ``latent_init="xavier"`` take the
code's choices instead; the ``reference-code`` preset sets both. What stays
different: padding masked in the label-wise attention, and a sample with no
valid step encoded as zeros (the code's BERT attends uniformly over padding).

The losses (SupCon over the distributions, the ordinal calibration loss) live
in ``losses.py``; the training loop and the hyperparameters in ``method.py``.
Per-modality and per-label layers are stored as grouped weights and applied
with one batched matmul each, not a Python loop over labels or modalities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from mmerbench_methods._blocks.dropout import Dropout, draw_masks_from
from mmerbench_methods._blocks.encoders import BertStyleEncoder, ModalityEncoder
from mmerbench_methods._blocks.label_attention import LabelWiseAttention, MLPLabelAttention, PooledLabelProjection

EMOTION_SPACES = ("attention", "mlp-attention", "pooled")
ENCODER_STYLES = ("pre-ln", "bert")
LATENT_INITS = ("pytorch", "xavier")


@dataclass
class LDDUConfig:
    modality_dims: dict[str, int] = field(default_factory=dict)  # ordered: modality -> raw feature size
    n_labels: int = 6
    hidden: int = 256  # encoder width (d)
    layers: int = 3  # Transformer layers per modality
    heads: int = 8
    feedforward: int = 256  # Transformer feed-forward width (the released code: 256)
    encoder_dropout: float = 0.3  # dropout inside the encoders (the released code: 0.3)
    # dropout on the encoders' attention probabilities (the released code: 0.3). At 0 the CPU's
    # fused attention kernel applies to long sequences (no (B, heads, T, T) map is kept) and batched
    # products to short ones (a small map kept for backward: _blocks/short_self_attention.py).
    attention_dropout: float = 0.0
    # recompute each modality's encoder in backward instead of keeping its activations: the same
    # numbers (dropout's random state is replayed), about one more encoder forward per step, and a
    # fraction of the memory on long (e.g. 500-frame unaligned) inputs.
    checkpoint_encoders: bool = False
    label_dim: int = 256  # label embedding size
    attention_dim: int = 256  # query/key space of the emotion-space attention ("pro_dim")
    emotion_dim: int = 128  # size of Z^m per label (paper 128; the released code uses hidden, 256)
    latent: int = 64  # size of mu and sigma (paper 64; code 128)
    dropout: float = 0.1  # dropout in the heads
    # "attention" (label embeddings as queries) | "mlp-attention" (the paper's Table 3 ablation (1):
    # additive attention scored by an MLP, no label embeddings) | "pooled" (mean-pool + MLP, cruder)
    emotion_space: str = "attention"
    max_steps: int = 4096  # longest sequence the position table covers
    # "pre-ln" (the shared ModalityEncoder) | "bert" (the released code's post-LN encoder, BertStyleEncoder)
    encoder_style: str = "pre-ln"
    # the latent encoder's and mu/sigma heads' weights: "pytorch" (nn.Linear's default) | "xavier" (the code's)
    latent_init: str = "pytorch"
    log_variance_limit: float = 15.0  # clamp on log sigma^2, so exp() never overflows


class GroupedLinear(nn.Module):
    """G independent Linear layers applied at once: (G, N, in) -> (G, N, out)."""

    def __init__(self, groups: int, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(groups, in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(groups, 1, out_features))
        for g in range(groups):  # the same scale as nn.Linear's default initialisation
            nn.init.kaiming_uniform_(self.weight.data[g].T, a=math.sqrt(5))
        bound = 1.0 / math.sqrt(in_features)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class GroupedMLP(nn.Module):
    """One small MLP per group (label or modality), batched: (G, N, in) -> (G, N, out)."""

    def __init__(self, groups: int, sizes: list[int], dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(GroupedLinear(groups, a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.dropout = Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.relu(self.dropout(x))
        return x


class LDDUModel(nn.Module):
    def __init__(self, config: LDDUConfig):
        super().__init__()
        if config.emotion_space not in EMOTION_SPACES:
            raise ValueError(f"emotion_space={config.emotion_space!r}: use one of {EMOTION_SPACES}")
        if config.encoder_style not in ENCODER_STYLES:
            raise ValueError(f"encoder_style={config.encoder_style!r}: use one of {ENCODER_STYLES}")
        if config.latent_init not in LATENT_INITS:
            raise ValueError(f"latent_init={config.latent_init!r}: use one of {LATENT_INITS}")
        self.config = config
        self.modalities = list(config.modality_dims)
        q, d, z, latent, m = config.n_labels, config.hidden, config.emotion_dim, config.latent, len(self.modalities)

        # 1. per-modality input LayerNorm + Transformer
        encoder = BertStyleEncoder if config.encoder_style == "bert" else ModalityEncoder
        # the pre-LN encoder's input LayerNorm and projection with the cheaper backward of norm_linear.py;
        # both encoders' self-attention from one packed projection (short sequences then attend through
        # short_self_attention.py's batched products on the CPU)
        extra = {"fused_qkv": True} if config.encoder_style == "bert" else {
            "fused_input_projection": True, "fused_qkv": True}
        self.encoders = nn.ModuleDict({
            name: encoder(dim_in, d, config.layers, config.heads, config.encoder_dropout,
                          feedforward=config.feedforward, max_steps=config.max_steps,
                          attention_dropout=config.attention_dropout, **extra)
            for name, dim_in in config.modality_dims.items()
        })
        # 2. emotion space: shared label embeddings, one attention per modality
        self.label_embeddings = nn.Parameter(nn.init.xavier_uniform_(torch.empty(q, config.label_dim)))
        if config.emotion_space == "attention":
            self.emotion_space = nn.ModuleDict({
                name: LabelWiseAttention(config.label_dim, d, config.attention_dim, z, config.dropout)
                for name in self.modalities
            })
        elif config.emotion_space == "mlp-attention":
            self.emotion_space = nn.ModuleDict({
                name: MLPLabelAttention(q, d, config.attention_dim, z, config.dropout) for name in self.modalities
            })
        else:
            self.emotion_space = nn.ModuleDict({
                name: PooledLabelProjection(q, d, z, config.dropout) for name in self.modalities
            })
        # 3. info classifier, shared by the labels (as in the released code)
        self.info_classifier = nn.Sequential(
            nn.Linear(m * z, d // 2), Dropout(config.dropout), nn.ReLU(), nn.Linear(d // 2, 1))
        # 4. latent encoders, one per modality: Z -> 3z/4 -> z/2 -> z/2 -> (mu, log sigma^2)
        self.latent_encoder = GroupedMLP(m, [z, z * 3 // 4, z // 2, z // 2], dropout=0.0)
        self.mu_head = GroupedLinear(m, z // 2, latent)
        self.log_variance_head = GroupedLinear(m, z // 2, latent)
        if config.latent_init == "xavier":  # the released LatentEncoder: Xavier-uniform weights, default biases
            for layer in [*self.latent_encoder.layers, self.mu_head, self.log_variance_head]:
                for g in range(m):
                    nn.init.xavier_uniform_(layer.weight.data[g])
        # 5. per-label fusion classifiers on the concatenated means / standard deviations
        self.mu_classifier = GroupedMLP(q, [m * latent, d // 2, 1], config.dropout)
        self.sigma_classifier = GroupedMLP(q, [m * latent, d // 2, 1], config.dropout)
        # Every dropout mask from NumPy's PCG64 seeded by torch's generator (pcg_masks.py): about a third
        # cheaper on the CPU than torch's serial generator; the same dropout, another random stream.
        draw_masks_from(self, "pcg64")

    def forward(self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        emotion = []
        for name in self.modalities:  # modalities differ in length, so one encoder call each
            if self.config.checkpoint_encoders and torch.is_grad_enabled():
                frames = checkpoint(self.encoders[name], features[name], masks[name], use_reentrant=False)
            else:
                frames = self.encoders[name](features[name], masks[name])  # (B, T_m, d)
            if self.config.emotion_space == "attention":
                z_m, _ = self.emotion_space[name](self.label_embeddings, frames, masks[name])  # (B, q, z)
            else:
                z_m = self.emotion_space[name](frames, masks[name])  # (B, q, z)
            emotion.append(z_m)
        z = torch.stack(emotion, dim=1)  # (B, M, q, z)
        batch, m, q, z_dim = z.shape

        dir_logit = self.info_classifier(z.permute(0, 2, 1, 3).reshape(batch, q, m * z_dim)).squeeze(-1)  # (B, q)

        per_modality = z.permute(1, 0, 2, 3).reshape(m, batch * q, z_dim)  # (M, B*q, z)
        hidden = torch.relu(self.latent_encoder(per_modality))  # (M, B*q, z/2)
        mu = self.mu_head(hidden)  # (M, B*q, latent)
        log_variance = self.log_variance_head(hidden).clamp(-self.config.log_variance_limit,
                                                            self.config.log_variance_limit)
        sigma = torch.exp(0.5 * log_variance)  # the released code takes no sample: the distribution is (mu, sigma)
        mu = mu.view(m, batch, q, -1).permute(1, 0, 2, 3)  # (B, M, q, latent)
        sigma = sigma.view(m, batch, q, -1).permute(1, 0, 2, 3)  # (B, M, q, latent)

        def per_label(x):  # (B, M, q, latent) -> (q, B, M*latent)
            return x.permute(2, 0, 1, 3).reshape(q, batch, -1)

        mu_logit = self.mu_classifier(per_label(mu)).squeeze(-1).T  # (B, q)
        sigma_logit = self.sigma_classifier(per_label(sigma)).squeeze(-1).T  # (B, q)
        return {
            "z": z,
            "dir_logit": dir_logit,
            "y_dir": torch.sigmoid(dir_logit),
            "mu": mu,
            "sigma": sigma,
            "log_variance": log_variance.view(m, batch, q, -1).permute(1, 0, 2, 3),  # (B, M, q, latent)
            "y_mu": torch.sigmoid(mu_logit),
            "y_sigma": torch.sigmoid(sigma_logit),
        }


def fuse(y_mu: torch.Tensor, y_sigma: torch.Tensor, gate: torch.Tensor, use_y_mu: bool = True,
         use_y_sigma: bool = True) -> torch.Tensor:
    """Uncertainty-aware fusion y = g * y_mu + (1 - g) * y_sigma, all (B, q).

    The ablations drop one branch: without y_sigma, y = y_mu; without y_mu, y = y_sigma.
    """
    if use_y_mu and use_y_sigma:
        return gate * y_mu + (1.0 - gate) * y_sigma
    if use_y_mu:
        return y_mu
    if use_y_sigma:
        return y_sigma
    raise ValueError("the fusion needs y_mu, y_sigma or both (use_y_mu and use_y_sigma are both false)")
