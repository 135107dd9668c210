"""--precision and --compile: what the loop does with them, and how they reach a job's key and its record."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from mmerbench.training import COMPILE_BACKEND, TorchMethod


class Pooled(TorchMethod):
    """A linear layer on time-averaged features, recording what ``training_loss`` saw."""

    name = "pooled"

    def __init__(self, epochs: int = 2, batch_size: int = 16, lr: float = 0.01, device: str = "cpu",
                 random_state: int = 0, threshold: str = "valid"):
        self.epochs, self.batch_size, self.lr = epochs, batch_size, lr
        self.device, self.random_state, self.threshold = device, random_state, threshold
        self.seen_dtypes: set = set()
        self.seen_models: set = set()

    def build_model(self, train) -> nn.Module:
        return nn.Linear(sum(train.modality_dims.values()), train.n_labels)

    def _pooled(self, batch) -> torch.Tensor:
        return torch.cat([x.mean(1) for _, x in sorted(batch.features.items())], dim=1)

    def training_loss(self, model, batch, epoch):
        logits = model(self._pooled(batch))
        self.seen_dtypes.add(logits.dtype)
        self.seen_models.add(type(model).__name__)
        return F.binary_cross_entropy_with_logits(logits.float(), batch.labels), {}

    def forward_proba(self, model, batch):
        return torch.sigmoid(model(self._pooled(batch)))


@pytest.fixture
def eager_compile(monkeypatch):
    monkeypatch.setenv(COMPILE_BACKEND, "eager")  # traces as compile does, without generating kernels


def test_fp32_is_the_default_and_computes_in_float32(tiny_dataset):
    method = Pooled().fit(tiny_dataset.train, tiny_dataset.valid)
    assert method.seen_dtypes == {torch.float32}
    assert method.fit_info_["precision"] == "fp32" and method.fit_info_["compiled"] is False


def test_bf16_runs_the_forward_under_bfloat16_autocast_on_the_cpu(tiny_dataset):
    method = Pooled().set_run_options(precision="bf16").fit(tiny_dataset.train, tiny_dataset.valid)
    assert method.seen_dtypes == {torch.bfloat16}
    assert method.fit_info_["precision"] == "bf16"
    assert method.model_.weight.dtype == torch.float32  # autocast: the weights stay float32


def test_an_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="precision='fp16' is not valid: use one of fp32, bf16"):
        Pooled().set_run_options(precision="fp16")


def test_compile_steps_a_compiled_model_but_keeps_and_saves_the_plain_one(tiny_dataset, eager_compile, tmp_path):
    method = Pooled().set_run_options(compile=True).fit(tiny_dataset.train, tiny_dataset.valid)
    assert method.seen_models == {"OptimizedModule"}  # training_loss got the compiled view
    assert isinstance(method.model_, nn.Linear)
    assert set(method.model_.state_dict()) == {"weight", "bias"}  # no _orig_mod. prefix
    assert method.fit_info_["compiled"] is True
    method.save(tmp_path / "model")
    loaded = Pooled.load(tmp_path / "model")
    assert (loaded.predict_proba(tiny_dataset.test) == method.predict_proba(tiny_dataset.test)).all()


def test_a_model_fitted_in_bf16_predicts_in_bf16_when_loaded(tiny_dataset, tmp_path):
    method = Pooled().set_run_options(precision="bf16").fit(tiny_dataset.train, tiny_dataset.valid)
    method.save(tmp_path / "model")
    assert (Pooled.load(tmp_path / "model").predict_proba(tiny_dataset.test) == method.predict_proba(tiny_dataset.test)).all()


def test_compile_with_the_same_seed_learns_the_same_weights(tiny_dataset, eager_compile):
    plain = Pooled().fit(tiny_dataset.train, tiny_dataset.valid)
    compiled = Pooled().set_run_options(compile=True).fit(tiny_dataset.train, tiny_dataset.valid)
    assert torch.allclose(plain.model_.weight, compiled.model_.weight, atol=1e-6)
