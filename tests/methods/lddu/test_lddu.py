"""LDDU's mechanisms, each alone on tiny tensors."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from mmerbench_methods._blocks.attention import MultiheadAttention as SharedMultiheadAttention

from mmerbench.api import make_method, method_class
from mmerbench.errors import UsageError
from mmerbench.testing.fixtures import make_tiny_dataset
from mmerbench.training import Batch
from mmerbench_methods._blocks.label_attention import MLPLabelAttention, PooledLabelProjection
from mmerbench_methods.lddu.losses import (
    CorrectnessHistory,
    calibration_signals,
    distribution_rows,
    gaussian_kl,
    ordinal_calibration_loss,
    parse_pairs,
    reference_code_calibration_loss,
    symmetric_kl,
)
from mmerbench_methods.lddu.model import fuse

TINY = dict(method_class("lddu").test_params, device="cpu")


def prepared(dataset, **params):
    """An LDDU with its model built and its training state ready, as at the start of fit."""
    method = make_method("lddu", **{**TINY, **params})
    torch.manual_seed(0)
    method.device_ = torch.device("cpu")
    model = method.build_model(dataset.train)
    method.on_fit_start(model, dataset.train)
    model.eval()  # no dropout, so that two configurations can be compared term by term
    return method, model


def first_batch(split, size=12):
    indices = np.arange(size)
    return Batch.from_split(split.take(indices), indices, torch.device("cpu"))


@pytest.fixture(scope="module")
def dataset():
    return make_tiny_dataset(n_train=40, n_valid=16, n_test=16, q=4)


# ---------------------------------------------------------------------------- the network


def test_padding_never_matters_and_lengths_may_differ(dataset):
    _, model = prepared(dataset)
    batch = first_batch(dataset.train)
    clean = model(batch.features, batch.masks)
    garbage = {m: x.masked_fill(~batch.masks[m].unsqueeze(-1), 123.0) for m, x in batch.features.items()}
    dirty = model(garbage, batch.masks)
    for key in ("y_dir", "y_mu", "y_sigma", "mu", "sigma"):
        assert torch.allclose(clean[key], dirty[key], atol=1e-5), key
    # Unaligned input: a much longer audio sequence, no truncation, same shapes out.
    long_audio = torch.randn(3, 57, batch.features["audio"].shape[-1])
    features = {"text": batch.features["text"][:3], "audio": long_audio, "vision": batch.features["vision"][:3]}
    masks = {"text": batch.masks["text"][:3], "audio": torch.ones(3, 57, dtype=torch.bool),
             "vision": batch.masks["vision"][:3]}
    out = model(features, masks)
    assert out["mu"].shape == (3, 3, 4, TINY["latent"]) and torch.isfinite(out["y_dir"]).all()


def test_missing_modality_gives_finite_outputs(dataset):
    _, model = prepared(dataset)
    batch = first_batch(dataset.train)
    masks = dict(batch.masks, vision=torch.zeros_like(batch.masks["vision"]))
    out = model(batch.features, masks)
    assert all(torch.isfinite(v).all() for v in out.values())


def test_fusion_gate():
    y_mu, y_sigma, gate = torch.tensor([[0.9, 0.2]]), torch.tensor([[0.1, 0.6]]), torch.tensor([[0.75, 0.5]])
    assert torch.allclose(fuse(y_mu, y_sigma, gate), torch.tensor([[0.75 * 0.9 + 0.25 * 0.1, 0.4]]))
    assert torch.equal(fuse(y_mu, y_sigma, gate, use_y_sigma=False), y_mu)
    assert torch.equal(fuse(y_mu, y_sigma, gate, use_y_mu=False), y_sigma)


def test_gate_is_y_dir_by_default_and_the_truth_gate_uses_the_plug_in_agreement_at_test_time(dataset):
    method, model = prepared(dataset, train_gate="truth")
    batch = first_batch(dataset.train)
    out = model(batch.features, batch.masks)
    agreement = torch.maximum(out["y_dir"], 1 - out["y_dir"])
    expected = agreement * out["y_mu"] + (1 - agreement) * out["y_sigma"]
    assert torch.allclose(method.forward_proba(model, batch), expected, atol=1e-6)
    truth_gate = method.gate(out, batch.labels)
    assert torch.allclose(truth_gate, 1 - (out["y_dir"] - batch.labels).abs())
    default, _ = prepared(dataset)
    assert torch.equal(default.gate(out, batch.labels), out["y_dir"])  # the default: y_dir in training...
    assert torch.equal(default.gate(out, None), out["y_dir"])  # ... and at test time
    default_expected = out["y_dir"] * out["y_mu"] + (1 - out["y_dir"]) * out["y_sigma"]
    assert torch.allclose(default.forward_proba(model, batch), default_expected, atol=1e-6)


def test_truth_gate_agrees_between_training_and_test_when_y_dir_is_confident_and_correct(dataset):
    method, _ = prepared(dataset, train_gate="truth")
    y_dir = torch.tensor([[0.97, 0.02, 0.9], [0.08, 0.99, 0.6]])
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])  # the last entry is wrong
    outputs = {"y_dir": y_dir}
    train, test = method.gate(outputs, labels), method.gate(outputs, None)
    right = (y_dir > 0.5) == (labels > 0.5)
    assert torch.allclose(train[right], test[right])
    assert torch.all(test[right] > 0.85)  # a correctly rejected absent label is gated to y_mu in both
    assert not torch.allclose(train[~right], test[~right])  # only the truth can tell a confident mistake


# ---------------------------------------------------------------------------- contrastive rows


def test_distribution_rows_and_their_36_classes():
    mu, sigma = torch.randn(2, 3, 6, 4), torch.rand(2, 3, 6, 4) + 0.1
    labels = torch.tensor([[1, 0, 0, 1, 0, 0], [0, 1, 0, 0, 0, 1]], dtype=torch.float32)
    rows, classes, present = distribution_rows(mu, sigma, labels)
    assert rows.shape == (36, 8) and set(classes.tolist()) <= set(range(36))
    # row (b, m, j) sits at (b * 3 + m) * 6 + j
    b, m, j = 1, 2, 5
    r = (b * 3 + m) * 6 + j
    assert torch.allclose(rows[r, :4], mu[b, m, j] / mu[b, m, j].norm())
    assert torch.allclose(rows[r, 4:], sigma[b, m, j] / sigma[b, m, j].norm())
    assert classes[r] == (1 * 3 + m) * 6 + j and bool(present[r])
    assert classes[(0 * 3 + m) * 6 + j] == (0 * 3 + m) * 6 + j and not bool(present[(0 * 3 + m) * 6 + j])
    assert torch.allclose(distribution_rows(mu, sigma, labels, "mu")[0], rows[:, :4])
    assert torch.allclose(distribution_rows(mu, sigma, labels, "sigma")[0], rows[:, 4:])
    # 2 * M * q distinct classes over a batch that has every (modality, label, presence)
    full = torch.cat([torch.ones(1, 6), torch.zeros(1, 6)])
    assert len(set(distribution_rows(mu, sigma, full)[1].tolist())) == 36


def slow_supcon(rows, classes, anchor_rows, temperature, scale, zero_for_empty):
    losses = []
    for a in anchor_rows:
        others = [c for c in range(len(rows)) if c != a]
        sims = {c: scale * float(rows[a] @ rows[c]) / temperature for c in others}
        normaliser = sum(math.exp(s) for s in sims.values())
        positives = [c for c in others if classes[c] == classes[a]]
        if positives:
            losses.append(-sum(sims[p] - math.log(normaliser) for p in positives) / len(positives))
        elif zero_for_empty:
            losses.append(0.0)
    return sum(losses) / len(losses)


@pytest.mark.parametrize("preset", [None, "reference-code"])
def test_contrastive_loss_matches_a_slow_reference_across_two_steps(dataset, preset):
    params = {"reference-code": {"similarity_scale": 0.5, "scl_anchors": "batch+queue",
                                 "scl_anchors_without_positives": "zero"}}.get(preset, {})
    method, model = prepared(dataset, temperature=0.5, queue_size=200, **params)
    history_rows, history_classes = [], []
    for step, start in enumerate((0, 6)):
        indices = np.arange(start, start + 6)
        batch = Batch.from_split(dataset.train.take(indices), indices, torch.device("cpu"))
        out = model(batch.features, batch.masks)
        got = float(method.contrastive_loss(out, batch.labels).detach())
        rows, classes, present = distribution_rows(out["mu"], out["sigma"], batch.labels)
        rows, classes = rows.detach().double(), classes.tolist()
        all_rows = torch.cat([rows] + history_rows) if history_rows else rows
        all_classes = classes + history_classes
        if preset is None:  # paper: anchors are the batch's present distributions
            anchors = [i for i in range(len(classes)) if bool(present[i])]
        else:  # released code: every batch and queue row
            anchors = list(range(len(all_classes)))
        expected = slow_supcon(all_rows, all_classes, anchors, 0.5, params.get("similarity_scale", 1.0),
                               preset is not None)
        assert got == pytest.approx(expected, rel=1e-4), f"step {step}"
        history_rows.append(rows)
        history_classes += classes
    assert len(method.queue_) == 2 * 6 * 3 * 4


def test_queue_inside_lddu_is_fifo_detached_and_takes_partial_batches(dataset):
    method, model = prepared(dataset, queue_size=100)  # 100 is not a multiple of 12 * 3 * 4 = 144 rows
    for size in (12, 12, 5):  # a partial last batch
        indices = np.arange(size)
        batch = Batch.from_split(dataset.train.take(indices), indices, torch.device("cpu"))
        method.training_loss(model, batch, epoch=1)[0].backward()
    queued, _ = method.queue_.contents()
    assert len(method.queue_) == 100 and not queued.requires_grad and queued.grad_fn is None
    assert prepared(dataset, use_queue=False)[0].queue_.capacity == 0


# ---------------------------------------------------------------------------- calibration


def kl(p, q):
    return sum(a * math.log(a / b) for a, b in zip(p, q))


def softmax(values):
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    return [e / sum(exps) for e in exps]


@pytest.mark.parametrize("pairs", [["DR", "SR"], ["DR"], ["SR"], ["DS"], ["DS", "DR", "SR"]])
def test_ocl_matches_its_formula(pairs):
    generator = torch.Generator().manual_seed(1)
    y_dir = torch.rand(3, 2, generator=generator)
    labels = torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    sigma = torch.rand(3, 2, 2, 4, generator=generator) + 0.05  # (B, M, q, latent)
    r = torch.tensor([[1.0, 0.5], [0.0, 1.0], [0.5, 0.5]])
    got = ordinal_calibration_loss(calibration_signals(y_dir, labels, sigma, r), parse_pairs(pairs))
    d = [1 - abs(float(y_dir[i, j]) - float(labels[i, j])) for i in range(3) for j in range(2)]
    s = [1 / math.sqrt(sum(float(sigma[i, m, j, k]) ** 2 for m in range(2) for k in range(4)))
         for i in range(3) for j in range(2)]
    signals = {"D": softmax(d), "S": softmax(s), "R": softmax(r.reshape(-1).tolist())}
    expected = sum(kl(signals[a], signals[b]) + kl(signals[b], signals[a]) for a, b in (tuple(p) for p in pairs))
    assert float(got) == pytest.approx(expected, rel=1e-5)
    # Before the first epoch has ended there is no R: pairs with R are skipped.
    without_history = ordinal_calibration_loss(calibration_signals(y_dir, labels, sigma, None), parse_pairs(pairs))
    expected_without = sum(kl(signals[a], signals[b]) + kl(signals[b], signals[a])
                           for a, b in (tuple(p) for p in pairs) if "R" not in a + b)
    assert float(without_history) == pytest.approx(expected_without, rel=1e-5, abs=1e-9)


def test_bad_calibration_pairs_are_refused(dataset):
    with pytest.raises(UsageError, match="calibration pair 'DX'"):
        prepared(dataset, ocl_pairs=["DX"])


def test_correctness_history_counts_epochs():
    history = CorrectnessHistory(n_samples=4, n_labels=2)
    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert history.rate(torch.tensor([0, 1])) is None  # no finished epoch yet
    # epoch 1: sample 0 fully right, sample 2 half right; sample 1 and 3 unseen
    history.record(torch.tensor([0, 2]), torch.tensor([[0.9, 0.1], [0.6, 0.8]]), labels)
    history.end_epoch()
    # epoch 2: sample 0 wrong on label 0; sample 2 fully right; sample 1 seen
    history.record(torch.tensor([0, 2]), torch.tensor([[0.4, 0.1], [0.3, 0.7]]), labels)
    history.record(torch.tensor([1]), torch.tensor([[0.6, 0.6]]), torch.tensor([[1.0, 1.0]]))
    history.end_epoch()
    assert torch.allclose(history.rate(torch.tensor([0, 2])), torch.tensor([[0.5, 1.0], [0.5, 1.0]]))
    assert torch.equal(history.epochs, torch.tensor([2.0, 1.0, 2.0, 0.0]))
    assert torch.allclose(history.rate(torch.tensor([1])), torch.tensor([[1.0, 1.0]]))
    assert history.rate(torch.tensor([3])) is None


def test_r_is_used_from_the_second_epoch_on(dataset):
    method = make_method("lddu", **{**TINY, "ocl_pairs": ["DR"], "epochs": 2, "patience": 0})
    method.fit(dataset.train, dataset.valid)
    curve = method.fit_info_["curve"]
    assert curve[0]["train_ocl"] == 0.0 and curve[1]["train_ocl"] > 0.0


# ---------------------------------------------------------------------------- ablations


def loss_terms(dataset, **params):
    method, model = prepared(dataset, **params)
    # A first step fills the queue, so that the second step's L_scl uses it.
    warm = first_batch(dataset.train, 12)
    method.training_loss(model, warm, epoch=1)
    method.history_.record(warm.index, model(warm.features, warm.masks)["y_dir"], warm.labels)
    method.history_.end_epoch()
    indices = np.arange(12)
    batch = Batch.from_split(dataset.train.take(indices), indices, torch.device("cpu"))
    total, terms = method.training_loss(model, batch, epoch=2)
    return method, model, float(total.detach()), terms


def test_each_ablation_switch_removes_its_term_and_only_it(dataset):
    _, _, total, full = loss_terms(dataset)
    assert set(full) == {"cls", "dir", "scl", "ocl"}
    weights = {"cls": 1.0, "ocl": 0.1, "scl": 0.8, "dir": 0.1}
    assert total == pytest.approx(sum(weights[k] * v for k, v in full.items()), rel=1e-5)
    for switch, removed in (("use_dir_loss", "dir"), ("use_scl", "scl"), ("use_ocl", "ocl")):
        _, _, total_off, terms = loss_terms(dataset, **{switch: False})
        assert set(terms) == set(full) - {removed}, switch
        for key in terms:
            assert terms[key] == pytest.approx(full[key], rel=1e-5), (switch, key)
        assert total_off == pytest.approx(total - weights[removed] * full[removed], rel=1e-5)
    # No queue: only L_scl changes (fewer negatives).
    _, _, _, no_queue = loss_terms(dataset, use_queue=False)
    assert no_queue["scl"] != pytest.approx(full["scl"])
    assert all(no_queue[k] == pytest.approx(full[k], rel=1e-5) for k in ("cls", "dir", "ocl"))
    # Similarity without sigma / without mu: only L_scl changes.
    for representation in ("mu", "sigma"):
        method, _, _, terms = loss_terms(dataset, scl_representation=representation)
        assert method.queue_.dim == TINY["latent"]
        assert terms["scl"] != pytest.approx(full["scl"])
        assert all(terms[k] == pytest.approx(full[k], rel=1e-5) for k in ("cls", "dir", "ocl"))
    # One calibration pair: only L_ocl changes.
    _, _, _, one_pair = loss_terms(dataset, ocl_pairs=["DS"])
    assert one_pair["ocl"] != pytest.approx(full["ocl"])
    assert all(one_pair[k] == pytest.approx(full[k], rel=1e-5) for k in ("cls", "dir", "scl"))
    # Fusion without one branch: only L_cls changes.
    for switch in ("use_y_mu", "use_y_sigma"):
        _, _, _, terms = loss_terms(dataset, **{switch: False})
        assert terms["cls"] != pytest.approx(full["cls"])
        assert all(terms[k] == pytest.approx(full[k], rel=1e-5) for k in ("dir", "scl", "ocl"))


def test_no_emotion_attention_swaps_the_layer_for_the_papers_mlp_attention_or_mean_pooling(dataset):
    _, model = prepared(dataset, use_emotion_attention=False)  # the paper's ablation (1): MLP-based attention
    assert all(isinstance(layer, MLPLabelAttention) for layer in model.emotion_space.values())
    batch = first_batch(dataset.train)
    assert model(batch.features, batch.masks)["y_dir"].shape == (12, 4)
    _, pooled = prepared(dataset, use_emotion_attention=False, emotion_space_ablation="mean-pool")
    assert all(isinstance(layer, PooledLabelProjection) for layer in pooled.emotion_space.values())
    assert pooled(batch.features, batch.masks)["y_dir"].shape == (12, 4)
    with pytest.raises(UsageError, match="emotion_space_ablation='max'"):
        prepared(dataset, use_emotion_attention=False, emotion_space_ablation="max")


def test_both_fusion_branches_off_is_refused(dataset):
    with pytest.raises(UsageError, match="use_y_mu and use_y_sigma"):
        prepared(dataset, use_y_mu=False, use_y_sigma=False)


# ---------------------------------------------------------------------------- fit-level behaviour


def test_presets_resolve_and_fit_is_deterministic_with_uncertainty(dataset):
    for preset in ("paper", "reference-code", "cpu"):
        make_method("lddu", preset=preset)
    reference = make_method("lddu", preset="reference-code", **TINY)
    assert reference.scl_anchors == "batch+queue" and reference.threshold == "published"
    first = make_method("lddu", **TINY).fit(dataset.train, dataset.valid)
    second = make_method("lddu", **TINY).fit(dataset.train, dataset.valid)
    assert np.array_equal(first.predict_proba(dataset.test), second.predict_proba(dataset.test))
    uncertainty = first.predict_uncertainty(dataset.test)
    assert uncertainty.shape == (16, 4) and np.all(uncertainty > 0)
    assert np.array_equal(uncertainty, second.predict_uncertainty(dataset.test))
    reference.fit(dataset.train, dataset.valid)
    assert reference.threshold_ == pytest.approx(0.21)


# ---------------------------------------------------------------------------- issue 12 fixes


def released_crldis_transcription(common_result, stds_features):
    """The released CRLDis's first term, written out with every implicit choice made explicit.

    common_result (B, q) = y_dir; stds_features (B, q, M * latent), the modalities' sigmas side by side.
    """
    var_norm2 = torch.norm(stds_features, p=2, dim=-1).view(-1)
    var_scores = torch.nn.functional.softmax(var_norm2, dim=0)  # 1-D: PyTorch's implicit dim is 0
    common_scores = torch.nn.functional.softmax(common_result, dim=1)  # 2-D: PyTorch's implicit dim is 1
    kl_loss1 = (torch.nn.functional.kl_div(var_scores.log(), common_scores.view(-1), reduction="batchmean")
                + torch.nn.functional.kl_div(common_scores.view(-1).log(), var_scores, reduction="batchmean"))
    return kl_loss1 / 2


def test_reference_code_calibration_is_the_released_formula_in_value_and_gradient():
    generator = torch.Generator().manual_seed(4)
    y_dir = torch.rand(5, 6, generator=generator).requires_grad_(True)
    sigma = (torch.rand(5, 3, 6, 8, generator=generator) * 2 + 0.1).requires_grad_(True)  # (B, M, q, latent)
    got = reference_code_calibration_loss(y_dir, sigma)
    got_grads = torch.autograd.grad(got, (y_dir, sigma))
    stds_features = sigma.permute(0, 2, 1, 3).reshape(5, 6, 3 * 8)  # torch.cat(stds, -1) in the code
    expected = released_crldis_transcription(y_dir, stds_features)
    expected_grads = torch.autograd.grad(expected, (y_dir, sigma))
    assert float(got.detach()) == pytest.approx(float(expected.detach()), rel=1e-5)
    for a, b in zip(got_grads, expected_grads):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-9)
    # The former formula (one softmax over all B*q entries for both, no division by B*q)
    # gave sigma a gradient an order of magnitude larger.
    sigma_norm = sigma.pow(2).sum(dim=(1, 3)).sqrt()
    (old_grad,) = torch.autograd.grad(symmetric_kl(sigma_norm, y_dir) / 2, sigma)
    assert float(old_grad.norm() / got_grads[1].norm()) > 5


def test_reference_code_preset_uses_the_released_calibration_term(dataset):
    method, model = prepared(dataset, ocl_signals="reference-code")
    batch = first_batch(dataset.train)
    out = model(batch.features, batch.masks)
    got = method.calibration_loss(out, batch.labels, batch.index)
    assert torch.allclose(got, reference_code_calibration_loss(out["y_dir"], out["sigma"]))


def test_sigma_anchor_is_the_gaussian_kl_and_off_in_the_faithful_presets(dataset):
    for preset in ("paper", "reference-code", "cpu"):
        assert make_method("lddu", preset=preset).weight_kl == 0.0
    mu, log_variance = torch.tensor([[0.5, -1.0]]), torch.tensor([[0.2, -0.4]])
    expected = 0.5 * sum(m * m + math.exp(v) - 1 - v for m, v in zip([0.5, -1.0], [0.2, -0.4]))
    assert float(gaussian_kl(mu, log_variance)) == pytest.approx(expected, rel=1e-6)
    assert float(gaussian_kl(torch.zeros(3, 4), torch.zeros(3, 4))) == 0.0  # the prior itself
    _, _, total, terms = loss_terms(dataset)
    _, _, total_kl, terms_kl = loss_terms(dataset, weight_kl=0.5)
    assert "kl" not in terms and terms_kl["kl"] > 0
    assert total_kl == pytest.approx(total + 0.5 * terms_kl["kl"], rel=1e-5)
    method, model = prepared(dataset, weight_kl=0.5)
    batch = first_batch(dataset.train)
    out = model(batch.features, batch.masks)
    assert torch.allclose(out["sigma"], torch.exp(0.5 * out["log_variance"]))
    method.training_loss(model, batch, epoch=1)[0].backward()
    assert model.log_variance_head.weight.grad.abs().sum() > 0


def test_a_missing_modality_enters_neither_the_contrastive_loss_nor_the_queue(dataset):
    method, model = prepared(dataset, queue_size=1000)
    batch = first_batch(dataset.train, 6)
    vision = batch.masks["vision"].clone()
    vision[[1, 4]] = False  # samples 1 and 4 have no vision
    masks = dict(batch.masks, vision=vision)
    out = model(batch.features, masks)
    present = torch.stack([masks[name].any(dim=1) for name in model.modalities], dim=1)  # (B, M)
    loss = method.contrastive_loss(out, batch.labels, present)
    q = batch.labels.shape[1]
    assert len(method.queue_) == (6 * 3 - 2) * q
    rows, classes, is_present = distribution_rows(out["mu"], out["sigma"], batch.labels)
    keep = present.unsqueeze(-1).expand(-1, -1, q).reshape(-1)
    fresh, _ = prepared(dataset, queue_size=1000)
    expected = fresh.contrastive_loss({"mu": out["mu"], "sigma": out["sigma"]}, batch.labels)  # all rows
    assert float(loss) != pytest.approx(float(expected))
    from mmerbench_methods._blocks.supcon import supervised_contrastive_loss
    kept = supervised_contrastive_loss(rows[keep], classes[keep], temperature=fresh.temperature,
                                       anchors=is_present[keep])
    assert float(loss) == pytest.approx(float(kept), rel=1e-6)
    # The training step finds the missing modality from the masks by itself.
    step_method, step_model = prepared(dataset, queue_size=1000)
    step_method.training_loss(step_model, dataclasses.replace(batch, masks=masks), epoch=1)
    assert len(step_method.queue_) == (6 * 3 - 2) * q


def test_latent_distributions_are_the_models_gaussians(dataset):
    method = make_method("lddu", **{**TINY, "epochs": 1}).fit(dataset.train, dataset.valid)
    latent = method.latent_distributions(dataset.test)
    assert latent["mu"].shape == latent["sigma"].shape == (16, 3, 4, TINY["latent"])
    assert latent["mu"].dtype == np.float32 and np.all(latent["sigma"] > 0)
    assert latent["modalities"] == list(dataset.train.modality_dims)
    assert latent["label_names"] == list(dataset.train.label_names)
    indices = np.arange(5)
    batch = Batch.from_split(dataset.test.take(indices), indices, torch.device("cpu"))
    method.model_.eval()
    with torch.no_grad():
        out = method.model_(batch.features, batch.masks)
    assert np.allclose(latent["mu"][:5], out["mu"].numpy(), atol=1e-5)
    assert np.allclose(latent["sigma"][:5], out["sigma"].numpy(), rtol=1e-5)
    # predict_uncertainty is ||sigma|| over modalities and latent axes.
    norms = np.sqrt((latent["sigma"].astype(np.float64) ** 2).sum(axis=(1, 3)))
    assert np.allclose(method.predict_uncertainty(dataset.test), norms, rtol=1e-5)


def test_encoder_checkpointing_changes_no_number_and_attention_dropout_is_separate(dataset):
    batch = first_batch(dataset.train)
    results = []
    for checkpoint_encoders in (False, True):
        method, model = prepared(dataset, checkpoint_encoders=checkpoint_encoders, encoder_dropout=0.3,
                                 attention_dropout=0.2)
        model.train()  # dropout on: the recomputation must replay the same masks
        torch.manual_seed(5)
        loss, _ = method.training_loss(model, batch, epoch=1)
        loss.backward()
        results.append((float(loss.detach()), [p.grad.clone() for p in model.parameters() if p.grad is not None]))
        attention = [m.dropout for m in model.modules() if isinstance(m, SharedMultiheadAttention)]
        assert attention and all(p == 0.2 for p in attention)
        residual = [m.p for m in model.encoders.modules() if isinstance(m, torch.nn.Dropout)]
        assert residual and all(p == 0.3 for p in residual)
    (plain_loss, plain_grads), (checkpointed_loss, checkpointed_grads) = results
    assert plain_loss == pytest.approx(checkpointed_loss, rel=1e-6)
    assert len(plain_grads) == len(checkpointed_grads)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(plain_grads, checkpointed_grads))
    assert make_method("lddu", preset="reference-code").attention_dropout == 0.3  # the released code's
    assert make_method("lddu").attention_dropout == 0.0


def test_reference_code_preset_takes_the_released_encoder_and_xavier_latent_layers(dataset):
    from mmerbench_methods._blocks.encoders import BertStyleEncoder, ModalityEncoder

    reference = make_method("lddu", preset="reference-code")
    assert (reference.encoder_style, reference.latent_init) == ("bert", "xavier")
    assert (make_method("lddu").encoder_style, make_method("lddu", preset="cpu").latent_init) == ("pre-ln", "pytorch")
    sizes = dict(hidden=32, heads=4, emotion_dim=64, latent=48)
    _, bert = prepared(dataset, encoder_style="bert", latent_init="xavier", **sizes)
    _, plain = prepared(dataset, **sizes)
    assert all(isinstance(e, BertStyleEncoder) for e in bert.encoders.values())
    assert all(isinstance(e, ModalityEncoder) for e in plain.encoders.values())
    for layer, fan_in, fan_out in ((bert.latent_encoder.layers[0], 64, 48), (bert.mu_head, 32, 48)):
        xavier_bound = math.sqrt(6.0 / (fan_in + fan_out))
        weights = layer.weight.detach()
        # uniform on +-bound: its largest draw is near the bound, far above nn.Linear's 1/sqrt(fan_in)
        assert weights.abs().max() <= xavier_bound and weights.abs().max() > 0.95 * xavier_bound
    default = plain.latent_encoder.layers[0].weight.detach().abs().max()
    assert default <= 1.0 / math.sqrt(64)
    with pytest.raises(UsageError, match="encoder_style='post-ln' is not valid"):
        prepared(dataset, encoder_style="post-ln")


def test_random_queue_start_is_the_released_codes_full_queue_of_rows_that_match_nothing(dataset):
    method, model = prepared(dataset, queue_start="random", queue_size=96)
    embeddings, classes = method.queue_.contents(ordered=True)
    assert embeddings.shape == (96, 2 * TINY["latent"]) and len(method.queue_) == 96
    torch.testing.assert_close(embeddings.norm(dim=0), torch.ones(embeddings.shape[1]))  # columns, not rows
    assert classes.unique().numel() == 96 and int(classes.max()) < 0  # no positive for anyone, not even each other
    assert make_method("lddu", preset="reference-code").queue_start == "random"
    assert make_method("lddu").queue_start == "empty" and len(prepared(dataset)[0].queue_) == 0
    # with every queue row an anchor (the code's SupCon) the rows enter the mean as zeros: the first loss shrinks
    batch = first_batch(dataset.train)
    losses = {}
    for start in ("empty", "random"):
        method, model = prepared(dataset, queue_start=start, queue_size=96, scl_anchors="batch+queue",
                                 scl_anchors_without_positives="zero")
        with torch.no_grad():
            outputs = model(batch.features, batch.masks)
            losses[start] = float(method.contrastive_loss(outputs, batch.labels))
    assert losses["random"] < losses["empty"]


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_adam_runs_in_the_fused_kernel_on_cpu_with_the_plain_update(dataset, optimizer):
    """Adam and AdamW take PyTorch's fused kernel on the CPU (speed); a few steps of it agree with the
    default implementation to float rounding (the update is the same formula)."""
    method, model = prepared(dataset, optimizer=optimizer, weight_decay=0.01, lr=1e-2)
    fused, _ = method.configure_optimizer(model, total_steps=10)
    assert fused.defaults["fused"] is True
    twin = [p.detach().clone().requires_grad_(True) for p in model.parameters()]
    plain = (torch.optim.AdamW if optimizer == "adamw" else torch.optim.Adam)(twin, lr=1e-2, weight_decay=0.01)
    generator = torch.Generator().manual_seed(4)
    for _ in range(3):
        for ours, theirs in zip(model.parameters(), twin):
            ours.grad = torch.randn(ours.shape, generator=generator)
            theirs.grad = ours.grad.clone()
        fused.step()
        plain.step()
    for ours, theirs in zip(model.parameters(), twin):
        assert torch.allclose(ours, theirs, rtol=1e-5, atol=1e-7)


def test_the_pre_ln_encoders_take_the_cheaper_input_projection_backward(dataset):
    """LDDU's pre-LN encoders run their input LayerNorm and projection through norm_linear.py (version 4 on);
    the released code's BERT-style encoder has no such option."""
    _, model = prepared(dataset)
    assert all(encoder.fused_input_projection for encoder in model.encoders.values())
    _, bert = prepared(dataset, encoder_style="bert")
    assert not any(getattr(encoder, "fused_input_projection", False) for encoder in bert.encoders.values())


@pytest.mark.parametrize("encoder_style", ["pre-ln", "bert"])
def test_self_attention_from_one_packed_projection_and_dropout_masks_from_pcg64(dataset, encoder_style):
    """Version 5 on: every encoder layer's self-attention projects queries, keys and values with one product
    (and short sequences attend through the batched products on the CPU), and every module that draws a
    dropout mask draws it from PCG64 (``_blocks/pcg_masks.py``), the heads' dropouts included."""
    _, model = prepared(dataset, encoder_style=encoder_style)
    attentions = [m for m in model.encoders.modules() if isinstance(m, SharedMultiheadAttention)]
    assert attentions and all(attention.fused_qkv for attention in attentions)
    sources = [m.mask_source for m in model.modules() if hasattr(m, "mask_source")]
    assert len(sources) > len(attentions) and set(sources) == {"pcg64"}


def test_the_fast_paths_change_no_distribution_of_the_training_step(dataset):
    """The packed projection and the batched products are the same network: with dropout off (eval), the
    outputs of a model with the fast paths equal those of the same weights on the plain paths."""
    _, model = prepared(dataset)
    batch = first_batch(dataset.train)
    with torch.no_grad():
        fast = model(batch.features, batch.masks)
        for attention in (m for m in model.modules() if isinstance(m, SharedMultiheadAttention)):
            attention.fused_qkv = False
        plain = model(batch.features, batch.masks)
    for name in ("y_dir", "y_mu", "y_sigma", "mu", "sigma"):
        assert torch.allclose(fast[name], plain[name], rtol=1e-5, atol=1e-6), name
