"""AMP: soft top-k, asymmetric loss, reversed scorers, masked view, weight perturbation, padding, learning."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import mmerbench
import mmerbench_methods.amp.model as amp_model
from mmerbench.testing.fixtures import make_learnable_dataset, random_masked_inputs
from mmerbench_methods.amp.losses import asymmetric_loss
from mmerbench_methods.amp.method import consistency_loss, perturbation
from mmerbench_methods.amp.model import AMP, AMPConfig
from mmerbench_methods.amp.soft_topk import soft_top_k

DIMS = {"text": 6, "audio": 5, "vision": 3}


def _model(**overrides) -> AMP:
    torch.manual_seed(0)
    config = AMPConfig(modality_dims=DIMS, n_labels=4, dim=8, heads=2, encoder_layers=1, feedforward=16,
                       dropout=0.0, topk_iterations=50, **overrides)
    return AMP(config).eval()


def test_soft_top_k_selects_the_k_highest_valid_scores():
    scores = torch.tensor([[0.9, 0.1, 0.8, 0.2, 0.5, 0.95], [0.3, 0.7, 0.1, 0.0, 0.0, 0.0], [0.5] * 6])
    mask = torch.tensor([[1, 1, 1, 1, 1, 0], [1, 1, 1, 0, 0, 0], [0] * 6]).bool()
    selected = soft_top_k(scores, mask, torch.tensor([2.0, 1.0, 2.0]), epsilon=0.01, iterations=200)
    assert torch.allclose(selected.sum(1), torch.tensor([2.0, 1.0, 0.0]), atol=1e-3)
    assert selected[0, [0, 2]].min() > 0.95 and selected[0, 5] == 0  # padded 0.95 is never selected
    assert selected[1, 1] > 0.99 and (selected[2] == 0).all()
    # No dependence on batch mates (checked where the plan is soft, so costs matter).
    soft_batch = soft_top_k(scores, mask, torch.tensor([2.0, 1.0, 2.0]), epsilon=0.5)
    alone = soft_top_k(scores[:1], mask[:1], torch.tensor([2.0]), epsilon=0.5)
    assert torch.allclose(alone, soft_batch[:1], atol=1e-6)
    soft = scores.clone().requires_grad_(True)
    soft_top_k(soft, mask, torch.tensor([2.0, 1.0, 2.0]))[:, 0].sum().backward()
    assert torch.isfinite(soft.grad).all() and soft.grad[0, 0] > 0  # a higher score, more selected


def test_asymmetric_loss_is_bce_without_focusing_and_ignores_easy_negatives():
    p = torch.tensor([[0.9, 0.2, 0.03], [0.4, 0.6, 0.5]])
    y = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    bce = F.binary_cross_entropy(p, y, reduction="none").sum(1).mean()
    plain = dict(gamma_neg=0.0, gamma_pos=0.0, clip=0.0)
    assert torch.allclose(asymmetric_loss(p, y, **plain, scale="per-sample"), bce)
    easy = torch.tensor([[0.9, 0.04, 0.04]])
    only_positive = asymmetric_loss(torch.tensor([[0.9, 0.0, 0.0]]), torch.tensor([[1.0, 0.0, 0.0]]))
    assert torch.allclose(asymmetric_loss(easy, torch.tensor([[1.0, 0.0, 0.0]])), only_positive)


def test_asymmetric_loss_defaults_to_the_released_scale():
    """AsymmetricLossOptimized in the released train_mmer.py: -sum / batch / labels * 1000."""
    p = torch.tensor([[0.9, 0.2, 0.03], [0.4, 0.6, 0.5]])
    y = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    summed = -(y * torch.log(p) * (1 - p) + (1 - y) * torch.log(1 - (p - 0.05).clamp_min(0))
               * (p - 0.05).clamp_min(0) ** 2).sum()
    assert torch.allclose(asymmetric_loss(p, y), summed / 2 / 3 * 1000)
    assert torch.allclose(asymmetric_loss(p, y, scale="per-sample"), summed / 2)
    method = mmerbench.make_method("amp")
    assert method.loss_scale == "released" and "loss_scale" not in type(method).presets["cpu"]
    data = make_learnable_dataset(n_train=8, n_valid=4, n_test=4)
    with pytest.raises(mmerbench.errors.UsageError, match="loss_scale='mean' is not valid.*released"):
        mmerbench.make_method("amp", loss_scale="mean", epochs=1).fit(data.train, data.valid)


def _inputs():
    return random_masked_inputs(DIMS, {"text": [4, 3], "audio": [10, 0], "vision": [4, 2]},
                                {"text": 5, "audio": 12, "vision": 4})


def test_the_masked_view_zeroes_a_fixed_share_of_each_sequence():
    model = _model(topk_epsilon=0.01)
    features, masks = _inputs()
    _, _, selected = model(features, masks, with_masked=True)
    assert torch.allclose(selected["audio"].sum(1), torch.tensor([4.0, 0.0]), atol=1e-2)  # floor(0.48 * 10)
    assert torch.allclose(selected["text"].sum(1), torch.tensor([1.0, 1.0]), atol=1e-2)
    assert (selected["audio"][~masks["audio"]] == 0).all()


def test_scorers_receive_the_reversed_gradient_of_the_masked_loss(monkeypatch):
    features, masks = _inputs()

    def scorer_grads(model):
        _, masked, _ = model(features, masks, with_masked=True)
        masked.sum().backward()
        return torch.cat([p.grad.flatten() for p in model.scorer.parameters()])

    reversed_grads = scorer_grads(_model(reverse_scale=0.1))
    monkeypatch.setattr(amp_model, "grad_reverse", lambda x, scale: x)
    plain_grads = scorer_grads(_model(reverse_scale=0.1))
    assert plain_grads.abs().max() > 0
    assert torch.allclose(reversed_grads, -0.1 * plain_grads, atol=1e-6)


def test_weight_perturbation_moves_each_tensor_by_epsilon_along_its_gradient():
    model = _model()
    features, masks = _inputs()
    loss = model(features, masks).sum()
    trimodal = {f"trimodal.{n}": p for n, p in model.trimodal.named_parameters()}
    moved = perturbation(loss, trimodal, 0.5)
    assert moved and set(moved) <= set(trimodal)
    for name, value in moved.items():
        assert torch.allclose((value - trimodal[name]).norm(), torch.tensor(0.5), atol=1e-5)
    perturbed = torch.func.functional_call(model, moved, (features, masks))
    assert not torch.allclose(perturbed, model(features, masks))
    kl = consistency_loss(perturbed, model(features, masks), "softmax")
    kl.backward()  # the KL's gradient reaches the unperturbed parameters
    assert all(p.grad is not None for p in model.trimodal.parameters())
    assert consistency_loss(perturbed, perturbed, "bernoulli").abs() < 1e-6


def test_padding_and_batch_mates_change_nothing_and_every_modality_counts():
    model = _model()
    features, masks = _inputs()
    proba = model(features, masks)
    garbage = {m: x.clone() for m, x in features.items()}
    for m in DIMS:
        garbage[m][~masks[m]] = 40.0
    assert torch.allclose(proba, model(garbage, masks), atol=1e-5)
    alone = model({m: x[1:] for m, x in features.items()}, {m: k[1:] for m, k in masks.items()})
    assert torch.allclose(alone, proba[1:], atol=1e-5)
    for m in DIMS:
        changed = dict(features)
        changed[m] = features[m] + torch.randn_like(features[m]) * masks[m][..., None]
        assert not torch.allclose(model(changed, masks)[0], proba[0]), f"{m} does not reach the output"


def test_amp_paper_defaults_and_bad_options():
    method = mmerbench.make_method("amp")
    assert (method.dim, method.heads, method.encoder_layers, method.feedforward, method.lr, method.batch_size,
            method.epochs, method.masked_weight, method.gamma_neg, method.gamma_pos) == (
        512, 8, 3, 1024, 5e-5, 128, 10, 0.1, 2.0, 1.0)
    assert set(type(method).presets) == {"paper", "cpu"}
    data = make_learnable_dataset(n_train=8, n_valid=4, n_test=4)
    with pytest.raises(mmerbench.errors.UsageError, match="consistency='l2' is not valid"):
        mmerbench.make_method("amp", consistency="l2", epochs=1).fit(data.train, data.valid)


def test_amp_learns_a_small_synthetic_set_better_than_the_prior():
    data = make_learnable_dataset(seed=0)
    prior = mmerbench.make_method("prior").fit(data.train, data.valid)
    method = mmerbench.make_method("amp", dim=16, heads=2, encoder_layers=1, feedforward=32, dropout=0.0,
                                   topk_iterations=20, epochs=6, batch_size=16, lr=3e-3, warmup=0.1,
                                   random_state=0)
    method.fit(data.train, data.valid)
    prior_f1 = mmerbench.score(data.test.labels, prior.predict(data.test))["mif1"]
    method_f1 = mmerbench.score(data.test.labels, method.predict(data.test))["mif1"]
    assert method_f1 >= prior_f1 + 0.05, f"AMP test miF1 {method_f1:.3f} vs prior {prior_f1:.3f}"
