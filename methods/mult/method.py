"""MulT adapter: builds :class:`MulT` from the split's modalities and trains it with BCE."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mmerbench.training import Batch, TorchMethod
from mmerbench_methods.mult.model import MulT, MulTConfig


class MulTMethod(TorchMethod):
    """Multimodal Transformer (Tsai et al., 2019); code: yaohungt/Multimodal-Transformer.

    Defaults are the released code's (its defaults are for unaligned MOSEI):
    d = 30, 5 heads, 5 crossmodal layers, 5 memory layers, Adam lr 1e-3,
    batch 24, gradient clipping 0.8, 40 epochs; the best epoch on validation
    is kept (``patience=0``: no early stopping). The released code's
    ReduceLROnPlateau on validation loss (patience 20) is not reproduced.
    """

    name = "mult"
    version = "1"
    published_threshold = 0.5
    presets = {
        "paper": {},
        # Fewer layers and epochs for a 2-core CPU; widths stay the paper's.
        "cpu": {"layers": 2, "memory_layers": 2, "epochs": 10, "batch_size": 32, "patience": 4},
    }
    test_params = {"dim": 8, "heads": 2, "layers": 1, "memory_layers": 1, "epochs": 2, "batch_size": 16}

    def __init__(self, dim: int = 30, heads: int = 5, layers: int = 5, memory_layers: int = 5,
                 attention_dropout: float = 0.1, attention_dropout_nonverbal: float = 0.0,
                 activation_dropout: float = 0.1, residual_dropout: float = 0.1, embed_dropout: float = 0.25,
                 output_dropout: float = 0.0, epochs: int = 40, batch_size: int = 24, lr: float = 1e-3,
                 weight_decay: float = 0.0, patience: int = 0, grad_clip: float = 0.8, device: str = "auto",
                 random_state: int = 0, threshold: str = "valid"):
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
            max_steps=max(4096, max(train.steps.values())),
        )
        return MulT(config)

    def training_loss(self, model: MulT, batch: Batch, epoch: int):
        logits = model(batch.features, batch.masks)
        loss = F.binary_cross_entropy_with_logits(logits, batch.labels)
        return loss, {"bce": float(loss.detach())}

    def forward_proba(self, model: MulT, batch: Batch) -> torch.Tensor:
        return torch.sigmoid(model(batch.features, batch.masks))
