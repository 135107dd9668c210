"""LSAN: label attention, self-attention masking, adaptive fusion, per-label output, and that it learns."""

from __future__ import annotations

import pytest
import torch

import mmerbench
from mmerbench.evaluation.metrics import micro_f1
from mmerbench.testing.fixtures import make_tiny_dataset

from mmerbench_methods.lsan.method import LSANMethod
from mmerbench_methods.lsan.model import LSAN, AdaptiveFusion, LabelAttention, LabelSpecificSelfAttention, LSANConfig


def test_label_attention_scores_each_direction_with_the_label_embeddings():
    torch.manual_seed(0)
    block = LabelAttention(n_labels=3, hidden=2)
    states = torch.randn(1, 4, 4)
    states[0, 3] = 0.0  # a padded step (MaskedLSTM zeroes them)
    forward, backward = states[0, :, :2], states[0, :, 2:]
    c = block.labels.detach()
    expected = torch.cat([(c @ forward.T) @ forward, (c @ backward.T) @ backward], dim=-1)  # no softmax
    assert torch.allclose(block(states)[0], expected, atol=1e-6)
    assert torch.allclose(block(states[:, :3]), block(states), atol=1e-6)  # padding adds nothing


def test_self_attention_gives_padding_no_weight_and_each_label_its_own_weights():
    torch.manual_seed(0)
    block = LabelSpecificSelfAttention(dim=4, attention_dim=3, n_labels=2)
    states, mask = torch.randn(1, 5, 4), torch.tensor([[True, True, True, False, False]])
    out = block(states, mask)
    changed = states.clone()
    changed[0, 3:] = 100.0
    assert torch.allclose(block(changed, mask), out)
    assert not torch.allclose(out[0, 0], out[0, 1])


def test_adaptive_fusion_weights_sum_to_one_per_label():
    torch.manual_seed(0)
    fusion = AdaptiveFusion(dim=3)
    content, labels = torch.randn(2, 4, 3), torch.randn(2, 4, 3)
    alpha = torch.sigmoid(fusion.self_gate(content))
    beta = torch.sigmoid(fusion.label_gate(labels))
    expected = (alpha * content + beta * labels) / (alpha + beta)
    assert torch.allclose(fusion(content, labels), expected, atol=1e-6)


def test_each_label_output_reads_only_its_own_representation():
    torch.manual_seed(0)
    model = LSAN(LSANConfig(input_dim=5, n_labels=3, hidden=4, attention_dim=3, output_hidden=6, dropout=0.0)).eval()
    fused = torch.randn(1, 3, 8)
    changed = fused.clone()
    changed[0, 1] += 1.0
    before, after = model.output(fused).squeeze(-1), model.output(changed).squeeze(-1)
    assert torch.allclose(before[0, [0, 2]], after[0, [0, 2]]) and not torch.isclose(before[0, 1], after[0, 1])
    logits = model(torch.randn(2, 6, 5), torch.ones(2, 6, dtype=torch.bool))
    assert logits.shape == (2, 3)


def test_lsan_requires_text():
    assert LSANMethod.requires == {"modalities": ("text",)}


@pytest.mark.learning
def test_lsan_learns_beyond_the_label_prior():
    dataset = make_tiny_dataset(n_train=300, n_valid=100, n_test=200, seed=1)
    params = {**LSANMethod.test_params, "hidden": 16, "attention_dim": 16, "output_hidden": 16, "dropout": 0.0,
              "lr": 1e-2, "epochs": 15, "batch_size": 64, "random_state": 0}
    method = mmerbench.make_method("lsan", **params).fit(dataset.train, dataset.valid)
    prior = mmerbench.make_method("prior").fit(dataset.train, dataset.valid)
    truth = dataset.test.labels.astype(bool)
    learned = micro_f1(truth, method.predict(dataset.test).astype(bool))
    baseline = micro_f1(truth, prior.predict(dataset.test).astype(bool))
    assert learned >= baseline + 0.05, (learned, baseline)
