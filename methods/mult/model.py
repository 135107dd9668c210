"""MulT: Multimodal Transformer for unaligned multimodal language sequences (Tsai et al., ACL 2019).

Reads top to bottom:

1. Each modality is projected to ``dim`` by a temporal convolution without
   bias (kernel 1: a bias-free Linear per step; the paper uses kernel 3 for
   audio and vision on MOSEI); the text input gets embedding dropout first.
2. Crossmodal Transformers: for every ordered pair (target, source) of
   different modalities, the target's sequence attends to the source's
   (M (M - 1) of them; six for text, audio, vision). Lengths may differ:
   unaligned data needs no alignment.
3. Per target, its crossmodal outputs are concatenated (width (M - 1) dim) and
   passed through a self-attention "memory" Transformer; the target's last
   valid step summarises it.
4. The M summaries are concatenated, a residual two-layer block and a linear
   layer give one logit per label (multi-label: per-label sigmoid / BCE).

Attention dropout is keyed by the *source* modality of a crossmodal
Transformer, as in the released code (``la`` -- text attending to audio --
uses ``attn_dropout_a``); every memory Transformer uses the text value.

Differences from the released code, on purpose: a kernel-k projection pads
(k - 1) / 2 zero steps on each side so that the sequence keeps its length and
its mask (the code uses no padding and shortens the sequence); padded steps are masked
(keys) and the last *valid* step is read (the released code attends to zero
padding and reads the last padded position); the released code's optional
causal ("future") attention mask is not used; a modality missing for a sample
(no valid step) contributes zeros instead of attending to padding. With a
single modality, its sequence attends to itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mmerbench_methods._blocks.crossmodal import CrossmodalTransformer
from mmerbench_methods._blocks.dropout import dropout
from mmerbench_methods._blocks.masking import last_valid


@dataclass
class MulTConfig:
    modality_dims: dict[str, int]  # modality -> raw feature dim, in the dataset's order
    n_labels: int
    text_modality: str | None = "text"  # gets attention_dropout and embedding dropout on its input
    dim: int = 30  # width of every projected modality (MulT: d_l = d_a = d_v = 30)
    heads: int = 5
    layers: int = 5  # crossmodal layers ("nlevels")
    memory_layers: int = 5  # self-attention layers per target: max(nlevels, 3) in the code
    attention_dropout: float = 0.1  # attention dropout when the source is text, and in every memory
    attention_dropout_nonverbal: float = 0.0  # ... when the source is audio or vision
    kernel_text: int = 1  # temporal convolution kernel of the text projection (odd)
    kernel_nonverbal: int = 1  # ... of audio and vision
    activation_dropout: float = 0.1  # "relu_dropout"
    residual_dropout: float = 0.1  # "res_dropout"
    embed_dropout: float = 0.25
    output_dropout: float = 0.0  # "out_dropout" in the residual head
    max_steps: int = 4096


class MulT(nn.Module):
    def __init__(self, config: MulTConfig):
        super().__init__()
        self.config = config
        self.modalities = list(config.modality_dims)
        d = config.dim
        for kernel in (config.kernel_text, config.kernel_nonverbal):
            if kernel < 1 or kernel % 2 == 0:
                raise ValueError(f"convolution kernel {kernel} is not valid: use an odd size >= 1")
        self.project = nn.ModuleDict({
            m: nn.Conv1d(dim_m, d, self.kernel(m), padding=self.kernel(m) // 2, bias=False)
            for m, dim_m in config.modality_dims.items()
        })

        def attention_dropout(source: str) -> float:
            is_text = source == config.text_modality
            return config.attention_dropout if is_text else config.attention_dropout_nonverbal

        def transformer(width: int, layers: int, attention: float) -> CrossmodalTransformer:
            return CrossmodalTransformer(width, config.heads, layers, attention, config.activation_dropout,
                                         config.residual_dropout, config.embed_dropout, config.max_steps)

        # One crossmodal Transformer per ordered pair, keyed "target<-source".
        self.crossmodal = nn.ModuleDict({
            f"{target}<-{source}": transformer(d, config.layers, attention_dropout(source))
            for target in self.modalities for source in self.sources(target)
        })
        self.memory = nn.ModuleDict({
            target: transformer(d * len(self.sources(target)), config.memory_layers, config.attention_dropout)
            for target in self.modalities
        })
        combined = sum(d * len(self.sources(target)) for target in self.modalities)
        self.head_hidden = nn.Linear(combined, combined)
        self.head_residual = nn.Linear(combined, combined)
        self.out = nn.Linear(combined, config.n_labels)

    def kernel(self, modality: str) -> int:
        return self.config.kernel_text if modality == self.config.text_modality else self.config.kernel_nonverbal

    def sources(self, target: str) -> list[str]:
        others = [m for m in self.modalities if m != target]
        return others or [target]

    def forward(self, features: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> torch.Tensor:
        """features: modality -> (B, T_m, D_m); masks: modality -> (B, T_m) -> logits (B, q)."""
        projected = {}
        for m in self.modalities:
            x = features[m]
            if m == self.config.text_modality:
                x = dropout(x, self.config.embed_dropout, self.training)
            x = x * masks[m].unsqueeze(-1).to(x.dtype)  # padded steps must not leak into a kernel > 1
            projected[m] = self.project[m](x.transpose(1, 2)).transpose(1, 2)  # (B, T_m, d)

        summaries = []
        for target in self.modalities:
            crossed = [
                self.crossmodal[f"{target}<-{source}"](projected[target], masks[target], projected[source], masks[source])
                for source in self.sources(target)
            ]  # each (B, T_target, d)
            h = torch.cat(crossed, dim=-1)  # (B, T_target, (M-1) d)
            h = self.memory[target](h, masks[target])
            summaries.append(last_valid(h, masks[target]))  # (B, (M-1) d)
        last = torch.cat(summaries, dim=-1)  # (B, M (M-1) d)

        hidden = dropout(F.relu(self.head_hidden(last)), self.config.output_dropout, self.training)
        return self.out(self.head_residual(hidden) + last)  # (B, q)
