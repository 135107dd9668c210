"""LDDU's mechanisms, each alone on tiny tensors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mmerbench.api import make_method, method_class
from mmerbench.errors import UsageError
from mmerbench.testing.fixtures import make_tiny_dataset
from mmerbench.training import Batch
from mmerbench_methods._blocks.label_attention import PooledLabelProjection
from mmerbench_methods.lddu.losses import (
    CorrectnessHistory,
    calibration_signals,
    distribution_rows,
    ordinal_calibration_loss,
    parse_pairs,
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


def test_gate_is_y_dir_at_test_time_and_optionally_truth_aware_in_training(dataset):
    method, model = prepared(dataset, train_gate="truth")
    batch = first_batch(dataset.train)
    out = model(batch.features, batch.masks)
    expected = out["y_dir"] * out["y_mu"] + (1 - out["y_dir"]) * out["y_sigma"]
    assert torch.allclose(method.forward_proba(model, batch), expected, atol=1e-6)
    truth_gate = method.gate(out, batch.labels)
    assert torch.allclose(truth_gate, 1 - (out["y_dir"] - batch.labels).abs())
    assert torch.equal(prepared(dataset)[0].gate(out, batch.labels), out["y_dir"])  # the default: y_dir


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


def test_no_emotion_attention_swaps_the_layer(dataset):
    _, model = prepared(dataset, use_emotion_attention=False)
    assert all(isinstance(layer, PooledLabelProjection) for layer in model.emotion_space.values())
    batch = first_batch(dataset.train)
    assert model(batch.features, batch.masks)["y_dir"].shape == (12, 4)


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
