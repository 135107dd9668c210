"""SGM: label sequences, masking, global embedding, the probability definition, and that it learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mmerbench
from mmerbench.evaluation.metrics import micro_f1
from mmerbench.testing.fixtures import make_tiny_dataset
from mmerbench.training import Batch

from mmerbench_methods.sgm.method import SGMMethod
from mmerbench_methods.sgm.model import SGM, GlobalEmbedding, SGMConfig


def _method_with_order(order):
    method = SGMMethod()
    method.label_order_ = np.asarray(order)
    return method


def test_label_sequences_follow_training_frequency_then_eos():
    dataset = make_tiny_dataset(n_train=8, n_valid=4, n_test=4, q=3)
    method = SGMMethod(**SGMMethod.test_params)
    train = dataset.train
    labels = np.array([[0, 1, 0], [0, 1, 1], [1, 1, 1], [0, 1, 1], [0, 0, 1], [0, 1, 0], [0, 0, 0], [0, 1, 0]])
    train.labels[:] = labels
    method.build_model(train)
    assert method.label_order_.tolist() == [1, 2, 0]  # frequencies 1, 6, 4
    sequences = method.label_sequences(torch.tensor(labels[[2, 4, 6]], dtype=torch.float32))
    eos, pad = 3, -100
    assert sequences.tolist() == [[1, 2, 0, eos], [2, eos, pad, pad], [eos, pad, pad, pad]]


def test_emitted_labels_are_masked_and_eos_never_is():
    torch.manual_seed(0)
    model = SGM(SGMConfig(input_dim=5, n_labels=4, embedding_dim=6, encoder_hidden=4, encoder_layers=1,
                          decoder_hidden=6, decoder_layers=1, attention_dim=5, dropout=0.0)).eval()
    text, mask = torch.randn(2, 7, 5), torch.ones(2, 7, dtype=torch.bool)
    state, memory = model.encode(text, mask)
    emitted = torch.tensor([[True, False, True, False], [True, True, True, True]])
    previous = torch.full((2,), model.bos)
    logits, _ = model.step(previous, None, state, memory, emitted)
    assert torch.isinf(logits[:, :4][emitted]).all() and (logits[:, :4][emitted] < 0).all()
    assert torch.isfinite(logits[:, :4][~emitted]).all() and torch.isfinite(logits[:, 4]).all()
    # Teacher forcing masks the gold labels already given: at step t, labels targets[:t] are -inf.
    targets = torch.tensor([[2, 0, 4], [1, 4, -100]])
    forced = model(text, mask, targets)
    assert torch.isinf(forced[0, 1, 2]) and torch.isinf(forced[0, 2, 0]) and torch.isinf(forced[0, 2, 2])
    assert torch.isinf(forced[1, 1, 1]) and torch.isfinite(forced[0, 1, [0, 1, 3, 4]]).all()


def test_global_embedding_is_the_gated_mix_of_the_label_and_the_expected_embedding():
    torch.manual_seed(0)
    block = GlobalEmbedding(3)
    table = torch.randn(4, 3)
    previous = table[1:2]
    probs = torch.tensor([[0.1, 0.2, 0.3, 0.4]])
    average = probs @ table
    gate = torch.sigmoid(block.from_label(previous) + block.from_average(average))
    expected = (1 - gate) * previous + gate * average
    assert torch.allclose(block(previous, probs, table), expected)
    # A certain previous step (one-hot on the label fed back) leaves its embedding unchanged.
    assert torch.allclose(block(previous, torch.tensor([[0.0, 1.0, 0.0, 0.0]]), table), previous)
    assert torch.equal(block(previous, None, table), previous)


def test_probabilities_reproduce_the_decoded_set_at_threshold_one_half():
    dataset = make_tiny_dataset(n_train=40, n_valid=12, n_test=16)
    method = SGMMethod(**{**SGMMethod.test_params, "threshold": 0.5}).fit(dataset.train, dataset.valid)
    indices = np.arange(len(dataset.test))
    batch = Batch.from_split(dataset.test, indices, torch.device("cpu"))
    method.model_.eval()
    emitted, best = method.model_.decode(batch.features["text"], batch.masks["text"])
    proba = method.predict_proba(dataset.test)
    assert np.array_equal(method.predict(dataset.test).astype(bool), emitted.numpy())
    assert (proba[emitted.numpy()] > 0.5).all() and (proba[~emitted.numpy()] <= 0.5).all()
    assert np.allclose(proba, 0.5 * emitted.numpy() + 0.5 * best.numpy(), atol=1e-6)


@pytest.mark.learning
def test_sgm_learns_beyond_the_label_prior():
    dataset = make_tiny_dataset(n_train=300, n_valid=100, n_test=200, seed=1)
    params = {**SGMMethod.test_params, "embedding_dim": 16, "encoder_hidden": 16, "decoder_hidden": 16,
              "attention_dim": 16, "dropout": 0.0, "lr": 1e-2, "epochs": 15, "batch_size": 64, "random_state": 0}
    method = mmerbench.make_method("sgm", **params).fit(dataset.train, dataset.valid)
    prior = mmerbench.make_method("prior").fit(dataset.train, dataset.valid)
    truth = dataset.test.labels.astype(bool)
    learned = micro_f1(truth, method.predict(dataset.test).astype(bool))
    baseline = micro_f1(truth, prior.predict(dataset.test).astype(bool))
    assert learned >= baseline + 0.05, (learned, baseline)
