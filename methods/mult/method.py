"""MulT adapter: builds :class:`MulT` from the split's modalities and trains it with BCE."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mmerbench.training import Batch, TorchMethod
from mmerbench_methods.mult.model import MulT, MulTConfig
from mmerbench_methods.mult.search import SEARCH_SPACES


class MulTMethod(TorchMethod):
    """Multimodal Transformer (Tsai et al., 2019); code: yaohungt/Multimodal-Transformer.

    Defaults (preset ``paper``) are the paper's MOSEI settings (Tsai et al.,
    2019, appendix): d = 40, 8 heads, 4 crossmodal blocks, batch 16, Adam lr
    1e-3, gradient clipping 1.0, 20 epochs, textual embedding dropout 0.3,
    output dropout 0.1, temporal convolution kernel 1 for text and 3 for audio
    and vision. Where the paper is silent the released code's defaults are
    used: memory Transformers of max(blocks, 3) layers, attention dropout 0.1
    with a text source and 0.0 with an audio or vision source, ReLU dropout
    0.1, residual dropout 0.1. Preset ``reference-code`` is the released
    code's defaults (its defaults are for unaligned MOSEI): d = 30, 5 heads,
    5 layers, 5 memory layers, batch 24, clipping 0.8, 40 epochs, embedding
    dropout 0.25, output dropout 0, kernel 1. In both the best epoch on
    validation is kept (``patience=0``: no early stopping); the released
    code's ReduceLROnPlateau on validation loss (patience 20) is not reproduced.
    """

    name = "mult"
    # 2: paper defaults, attention dropout keyed by the source modality, conv kernels
    version = "3"  # 3: dropout masks from _blocks.dropout (a new random stream)
    published_threshold = 0.5
    presets = {
        "paper": {},
        "reference-code": {"dim": 30, "heads": 5, "layers": 5, "memory_layers": 5, "batch_size": 24,
                           "grad_clip": 0.8, "epochs": 40, "embed_dropout": 0.25, "output_dropout": 0.0,
                           "kernel_nonverbal": 1},
        # The released code's widths with fewer layers and epochs for a 2-core CPU (version 1's
        # tuned cpu preset: test miF1 above the label prior on `synthetic` in about a minute).
        "cpu": {"dim": 30, "heads": 5, "layers": 2, "memory_layers": 2, "epochs": 10, "batch_size": 32,
                "patience": 4, "grad_clip": 0.8, "embed_dropout": 0.25, "output_dropout": 0.0,
                "kernel_nonverbal": 1},
    }
    search_spaces = SEARCH_SPACES  # what `mmerbench tune` may vary (search.py)
    test_params = {"dim": 8, "heads": 2, "layers": 1, "memory_layers": 1, "epochs": 2, "batch_size": 16}

    def __init__(self, dim: int = 40, heads: int = 8, layers: int = 4, memory_layers: int = 4,
                 attention_dropout: float = 0.1, attention_dropout_nonverbal: float = 0.0,
                 activation_dropout: float = 0.1, residual_dropout: float = 0.1, embed_dropout: float = 0.3,
                 output_dropout: float = 0.1, kernel_text: int = 1, kernel_nonverbal: int = 3, epochs: int = 20,
                 batch_size: int = 16, lr: float = 1e-3, weight_decay: float = 0.0, patience: int = 0,
                 grad_clip: float = 1.0, device: str = "auto", random_state: int = 0, threshold: str = "valid"):
        self.dim = dim
        self.heads = heads
        self.layers = layers
        self.memory_layers = memory_layers
        self.attention_dropout = attention_dropout
        self.attention_dropout_nonverbal = attention_dropout_nonverbal
        self.activation_dropout = activation_dropout
        self.residual_dropout = residual_dropout
        self.embed_dropout = embed_dropout
        self.output_dropout = output_dropout
        self.kernel_text = kernel_text
        self.kernel_nonverbal = kernel_nonverbal
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.grad_clip = grad_clip
        self.device = device
        self.random_state = random_state
        self.threshold = threshold

    def build_model(self, train) -> MulT:
        config = MulTConfig(
            modality_dims=dict(train.modality_dims),
            n_labels=train.n_labels,
            text_modality="text" if "text" in train.modalities else None,
            dim=int(self.dim),
            heads=int(self.heads),
            layers=int(self.layers),
            memory_layers=int(self.memory_layers),
            attention_dropout=float(self.attention_dropout),
            attention_dropout_nonverbal=float(self.attention_dropout_nonverbal),
            activation_dropout=float(self.activation_dropout),
            residual_dropout=float(self.residual_dropout),
            embed_dropout=float(self.embed_dropout),
            output_dropout=float(self.output_dropout),
            kernel_text=int(self.kernel_text),
            kernel_nonverbal=int(self.kernel_nonverbal),
            max_steps=max(4096, max(train.steps.values())),
        )
        return MulT(config)

    def training_loss(self, model: MulT, batch: Batch, epoch: int):
        logits = model(batch.features, batch.masks)
        loss = F.binary_cross_entropy_with_logits(logits, batch.labels)
        return loss, {"bce": float(loss.detach())}

    def forward_proba(self, model: MulT, batch: Batch) -> torch.Tensor:
        return torch.sigmoid(model(batch.features, batch.masks))
