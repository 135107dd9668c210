"""A deep method whose epochs take a set time, for tests of timeouts and resumption (never registered by default).

Enable with ``MMERBENCH_PLUGINS=mmerbench_test_plugins.plugin,mmerbench_test_plugins.slow_deep``. Method
``slow-deep`` is a linear layer on time-averaged features trained by the shared loop (so it
checkpoints like every deep method) that sleeps ``seconds_per_epoch`` at each epoch end.
"""

from __future__ import annotations

import time

import torch
from torch import nn
from torch.nn import functional as F

import mmerbench
from mmerbench.training import TorchMethod


class SlowDeep(TorchMethod):
    name = "slow-deep"

    def __init__(self, epochs: int = 12, seconds_per_epoch: float = 1.0, batch_size: int = 16, lr: float = 0.01,
                 patience: int = 100, device: str = "cpu", random_state: int = 0, threshold: str = "valid"):
        self.epochs = epochs
        self.seconds_per_epoch = seconds_per_epoch
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.device = device
        self.random_state = random_state
        self.threshold = threshold

    def build_model(self, train) -> nn.Module:
        return nn.Linear(sum(train.modality_dims.values()), train.n_labels)

    def _pooled(self, batch) -> torch.Tensor:
        parts = [(x * batch.masks[m][..., None]).sum(1) / batch.masks[m].sum(1, keepdim=True).clamp(min=1)
                 for m, x in sorted(batch.features.items())]
        return torch.cat(parts, dim=1)

    def training_loss(self, model, batch, epoch):
        loss = F.binary_cross_entropy_with_logits(model(self._pooled(batch)), batch.labels)
        return loss, {}

    def forward_proba(self, model, batch):
        return torch.sigmoid(model(self._pooled(batch)))

    def on_epoch_end(self, model, epoch: int) -> None:
        time.sleep(float(self.seconds_per_epoch))


@mmerbench.hookimpl
def mmerbench_register_methods(registry):
    registry.add_method("slow-deep", "mmerbench_test_plugins.slow_deep:SlowDeep", version="1",
                        summary="test fixture: a linear deep method whose epochs take seconds_per_epoch")
