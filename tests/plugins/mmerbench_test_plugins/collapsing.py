"""A deep method that can only learn the label prior (a bias per label): a collapsed model by construction."""

from __future__ import annotations

import torch
from torch import nn

from mmerbench.training import TorchMethod


class _Bias(nn.Module):
    def __init__(self, q: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(q))

    def forward(self, batch_size: int) -> torch.Tensor:
        return self.bias.expand(batch_size, -1)  # (B, q): the same logits for every sample


class BiasOnly(TorchMethod):
    name = "bias-only"
    version = "1"
    test_params = {"epochs": 2}

    def __init__(self, epochs: int = 20, batch_size: int = 16, lr: float = 0.1, weight_decay: float = 0.0,
                 patience: int | None = None, grad_clip: float | None = None, device: str = "auto",
                 random_state: int = 0, threshold: str = "valid"):
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.grad_clip = grad_clip
        self.device = device
        self.random_state = random_state
        self.threshold = threshold

    def build_model(self, train):
        return _Bias(train.n_labels)

    def training_loss(self, model, batch, epoch):
        loss = nn.functional.binary_cross_entropy_with_logits(model(len(batch)), batch.labels)
        return loss, {}

    def forward_proba(self, model, batch):
        return torch.sigmoid(model(len(batch)))
