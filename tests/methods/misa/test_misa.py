"""MISA: utterance vectors, shared/private losses (difference, CMD, reconstruction), learning."""

from __future__ import annotations

from itertools import combinations

import torch
import torch.nn.functional as F

import mmerbench
from mmerbench_methods._blocks.losses import cmd, difference_loss
from mmerbench_methods.misa.model import MISA, MISAConfig
from mmerbench.testing.fixtures import random_masked_inputs

DIMS = {"text": 6, "audio": 5, "vision": 3}


def _inputs(lengths, steps, seed=0):
    return random_masked_inputs(DIMS, lengths, steps, seed)


def _model(**overrides) -> MISA:
    torch.manual_seed(0)
    return MISA(MISAConfig(modality_dims=DIMS, n_labels=3, rnn_hidden=4, hidden=8, fusion_feedforward=16, **overrides))


LENGTHS = {"text": [4, 2, 3, 4, 1], "audio": [7, 7, 2, 0, 5], "vision": [3, 1, 3, 2, 3]}
STEPS = {"text": 4, "audio": 7, "vision": 3}


def test_misa_utterances_ignore_padding_and_a_missing_modality_is_zero():
    model = _model().eval()
    features, masks = _inputs(LENGTHS, STEPS)
    out = model(features, masks)
    assert out["logits"].shape == (5, 3) and torch.isfinite(out["logits"]).all()
    assert model.utterance["audio"](features["audio"], masks["audio"])[3].abs().sum() == 0  # sample 3 has no audio
    noisy = {m: x.masked_fill(~masks[m][..., None], 9.0) for m, x in features.items()}
    assert torch.allclose(out["logits"], model(noisy, masks)["logits"], atol=1e-5)


def test_misa_losses_are_the_papers_terms():
    model = _model().train()
    features, masks = _inputs(LENGTHS, STEPS)
    out = model(features, masks)
    terms = model.losses(out)
    private, shared = out["private"], out["shared"]
    modalities = list(DIMS)
    expected_difference = sum(difference_loss(private[m], shared[m]) for m in modalities) + sum(
        difference_loss(private[a], private[b]) for a, b in combinations(modalities, 2))
    expected_similarity = sum(cmd(shared[a], shared[b], 5) for a, b in combinations(modalities, 2)) / 3
    expected_reconstruction = sum(F.mse_loss(out["reconstructed"][m], out["projected"][m]) for m in modalities) / 3
    assert torch.allclose(terms["difference"], expected_difference)
    assert torch.allclose(terms["similarity"], expected_similarity)
    assert torch.allclose(terms["reconstruction"], expected_reconstruction)
    # Shared vectors come from one encoder for all modalities; privates from one each.
    assert isinstance(model.shared, torch.nn.Sequential) and len(model.private) == 3


def test_misa_training_loss_weights_the_terms():
    from mmerbench.testing.fixtures import make_tiny_dataset
    from mmerbench.training import Batch

    data = make_tiny_dataset(n_train=12, n_valid=4, n_test=4)
    method = mmerbench.make_method("misa", rnn_hidden=4, hidden=8, fusion_feedforward=16, dropout=0.0,
                                   diff_weight=0.5, sim_weight=2.0, recon_weight=3.0)
    method.fit_info_ = {}
    torch.manual_seed(0)
    model = method.build_model(data.train).eval()
    batch = Batch.from_split(data.train, torch.arange(12).numpy(), torch.device("cpu"))
    loss, terms = method.training_loss(model, batch, 1)
    expected = terms["bce"] + 0.5 * terms["difference"] + 2.0 * terms["similarity"] + 3.0 * terms["reconstruction"]
    assert abs(float(loss.detach()) - expected) < 1e-5


def test_misa_adversarial_similarity_reverses_the_shared_encoders_gradient():
    model = _model(similarity="adversarial", dropout=0.0).train()
    features, masks = _inputs(LENGTHS, STEPS)
    out = model(features, masks)
    reversed_grad = torch.autograd.grad(model.losses(out)["similarity"], model.shared[0].weight, retain_graph=True)[0]
    # The same cross-entropy without reversal: the shared encoder's gradient flips sign.
    scores = torch.cat([model.discriminator(out["shared"][m]) for m in DIMS])
    target = torch.arange(3).repeat_interleave(5)
    plain_grad = torch.autograd.grad(F.cross_entropy(scores, target), model.shared[0].weight)[0]
    assert torch.allclose(reversed_grad, -plain_grad, atol=1e-7)
    assert plain_grad.abs().sum() > 0


def test_misa_clips_gradient_values_during_fit_only():
    from mmerbench.testing.fixtures import make_tiny_dataset

    data = make_tiny_dataset(n_train=16, n_valid=8, n_test=4)
    method = mmerbench.make_method("misa", rnn_hidden=4, hidden=8, fusion_feedforward=16, epochs=1,
                                   grad_clip_value=1e-4)
    method.fit_info_ = {}
    model = method.build_model(data.train)
    method.on_fit_start(model, data.train)
    (model(*_tiny_inputs(data))["logits"] * 1e4).sum().backward()
    assert max(float(p.grad.abs().max()) for p in model.parameters() if p.grad is not None) <= 1e-4
    method.fit(data.train, data.valid)
    assert method._clip_handles == []
    model = method.model_
    model.zero_grad()
    (model(*_tiny_inputs(data))["logits"] * 1e4).sum().backward()
    assert max(float(p.grad.abs().max()) for p in model.parameters() if p.grad is not None) > 1e-4


def _tiny_inputs(data):
    from mmerbench.training import Batch

    batch = Batch.from_split(data.train, torch.arange(len(data.train)).numpy(), torch.device("cpu"))
    return batch.features, batch.masks


def test_misa_learns_a_small_synthetic_set_better_than_the_prior():
    from mmerbench.testing.fixtures import make_learnable_dataset

    data = make_learnable_dataset(seed=0)
    prior = mmerbench.make_method("prior").fit(data.train, data.valid)
    method = mmerbench.make_method("misa", rnn_hidden=16, hidden=64, fusion_feedforward=64, dropout=0.1, epochs=6, batch_size=16, lr=3e-3, random_state=0)
    method.fit(data.train, data.valid)
    prior_f1 = mmerbench.score(data.test.labels, prior.predict(data.test))["mif1"]
    method_f1 = mmerbench.score(data.test.labels, method.predict(data.test))["mif1"]
    assert method_f1 >= prior_f1 + 0.05, f"MISA test miF1 {method_f1:.3f} vs prior {prior_f1:.3f}"
