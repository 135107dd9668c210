"""Fixtures for `mmerbench tune`'s tests: a search whose answer is known, and data whose test labels are shuffled.

- method ``curve-oracle``: a deep method (the shared training loop) whose validation miF1 rises epoch by epoch
  at a rate set by its hyperparameter ``skill``: it reads the labels of the batch and blurs them with a fixed
  per-sample noise that fades as ``skill * epoch / epochs`` grows. At every epoch a higher skill scores at least
  as high at a fixed threshold (each sample's blur only shrinks), so the best trial of any search is the one
  with the highest skill sampled, and the median pruner should never stop it.
- dataset ``tiny-shuffled-test``: ``tiny`` with its test labels permuted (train and validation untouched).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from mmerbench.search_spaces import Choice
from mmerbench.training import TorchMethod


class _Dummy(nn.Module):
    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1))


class CurveOracle(TorchMethod):
    name = "curve-oracle"
    version = "1"
    test_params = {"epochs": 2}
    search_spaces = {"default": {"skill": Choice([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])}}

    def __init__(self, skill: float = 0.5, epochs: int = 5, batch_size: int = 32, lr: float = 0.01,
                 patience: int = 0, device: str = "cpu", random_state: int = 0, threshold: str = "valid"):
        self.skill = skill
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.device = device
        self.random_state = random_state
        self.threshold = threshold

    def build_model(self, train):
        self.epoch_ = 0
        return _Dummy()

    def training_loss(self, model, batch, epoch):
        self.epoch_ = epoch
        return model.bias.sum() * 0.0, {}

    def forward_proba(self, model, batch):
        # at most half clear, so that no skill scores a perfect (tied) 1.0
        clarity = 0.5 * float(self.skill) * getattr(self, "epoch_", 0) / int(self.epochs)
        noise = torch.remainder(batch.index[:, None].float() * 0.618 + torch.arange(batch.labels.shape[1]) * 0.31,
                                1.0) - 0.5  # (B, q): fixed per sample and label
        return (0.5 + (batch.labels - 0.5) * clarity + noise * (1.0 - clarity)).clamp(0.0, 1.0)


def load_tiny_shuffled_test(n_train: int = 48, n_valid: int = 16, n_test: int = 20, seed: int = 0):
    from mmerbench.data.splits import make_dataset, make_split
    from mmerbench.testing.fixtures import make_tiny_dataset

    tiny = make_tiny_dataset(n_train, n_valid, n_test, seed=seed)
    test = tiny.test
    shuffled = np.asarray(test.labels)[np.random.default_rng(123).permutation(len(test))]
    features = {m: np.asarray(test.features[m]) for m in test.modalities}
    lengths = {m: np.asarray(test.lengths[m]) for m in test.modalities}
    test = make_split(features, shuffled, label_names=test.label_names, lengths=lengths)
    return make_dataset("tiny-shuffled-test", tiny.train, tiny.valid, test, params={"seed": seed})
