"""LSGMER's mechanisms on tiny tensors: label signal enhancement, APC, the label moving average,
the vision switch, the label modes and the errors for data it cannot use."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import mmerbench
from mmerbench.errors import UsageError
from mmerbench.testing.fixtures import as_single_label, make_tiny_dataset, random_masked_inputs
from mmerbench_methods.lsgmer.losses import MAX_JS, apc_loss, jensen_shannon
from mmerbench_methods.lsgmer.model import LSGMER, LabelSignalEnhancement, LSGMERConfig

DIMS = {"text": 6, "audio": 5, "vision": 3}
SMALL = dict(hidden=8, layers=1, heads=2, feedforward=16, epochs=2, batch_size=16, lr=1e-3, device="cpu")


def _enhancer(reduction: str) -> LabelSignalEnhancement:
    torch.manual_seed(0)
    return LabelSignalEnhancement(dim=8, heads=2, dropout=0.0, gate_reduction=reduction).eval()


def _frames(lengths, steps=6, seed=0):
    generator = torch.Generator().manual_seed(seed)
    mask = torch.arange(steps)[None, :] < torch.tensor(lengths)[:, None]
    h0 = torch.randn(len(lengths), steps, 8, generator=generator) * mask[..., None]
    h1 = torch.randn(len(lengths), steps, 8, generator=generator) * mask[..., None]
    return h0, h1, mask


# --------------------------------------------------------------------------- label signal enhancement


def test_enhancement_is_label_attention_then_sigmoid_gate():
    module = _enhancer("mean")
    labels = torch.randn(3, 8)
    h0, h1, mask = _frames([6, 4])
    out, h2 = module(labels, h0, h1, mask)
    # H2 = Attention(query = L, key = value = H1), padded frames masked.
    expected_h2 = module.attention(labels.expand(2, -1, -1), h1, h1, mask)
    reference = torch.nn.MultiheadAttention(8, 2, batch_first=True).eval()
    reference.load_state_dict(module.attention.state_dict())  # the shared block keeps nn's parameter names
    by_torch, _ = reference(labels.expand(2, -1, -1), h1, h1, key_padding_mask=~mask)
    assert torch.allclose(expected_h2, by_torch, atol=1e-5)
    assert torch.allclose(h2, expected_h2, atol=1e-6)
    enhanced = h2.mean(dim=1, keepdim=True)  # (B, 1, d)
    expected = (torch.sigmoid(enhanced) * h0 + enhanced) * mask[..., None]
    assert torch.allclose(out, expected, atol=1e-6)
    assert out.shape == (2, 6, 8) and h2.shape == (2, 3, 8)


def test_each_reduction_gives_the_gate_its_shape():
    labels = torch.randn(3, 8)
    h0, h1, mask = _frames([6, 6])
    gates = {}
    for reduction in ("mean", "max", "frames"):
        out, h2 = _enhancer(reduction)(labels, h0, h1, mask)
        gates[reduction] = out
        if reduction == "max":
            e = h2.max(dim=1, keepdim=True).values
            assert torch.allclose(out, torch.sigmoid(e) * h0 + e, atol=1e-6)
    # "mean" and "max" add one vector to every frame; "frames" adds a different one per frame.
    with torch.no_grad():
        out, h2 = _enhancer("frames")(labels, torch.zeros_like(h0), h1, mask)  # H0 = 0 leaves E itself
    per_frame = out[0]
    assert not torch.allclose(per_frame[0], per_frame[1], atol=1e-4)
    assert not torch.allclose(gates["mean"], gates["max"])


def test_enhancement_ignores_padding_and_zeroes_a_missing_modality():
    module = _enhancer("mean")
    labels = torch.randn(3, 8)
    h0, h1, mask = _frames([4, 0])
    out, _ = module(labels, h0, h1, mask)
    garbage_h0, garbage_h1 = h0.clone(), h1.clone()
    garbage_h0[~mask], garbage_h1[~mask] = 50.0, -50.0
    again, _ = module(labels, garbage_h0, garbage_h1, mask)
    assert torch.allclose(out, again, atol=1e-5)
    assert torch.isfinite(out).all() and (out[1] == 0).all()


def test_label_embeddings_steer_the_enhancement():
    module = _enhancer("mean")
    h0, h1, mask = _frames([6, 5])
    first, _ = module(torch.randn(3, 8), h0, h1, mask)
    second, _ = module(torch.randn(3, 8), h0, h1, mask)
    assert not torch.allclose(first, second)


# --------------------------------------------------------------------------- APC


def test_jensen_shannon_is_zero_for_equal_symmetric_and_bounded():
    p = torch.tensor([[0.7, 0.2, 0.1]])
    q = torch.tensor([[0.1, 0.3, 0.6]])
    assert float(jensen_shannon(p, p)) == pytest.approx(0.0, abs=1e-7)
    assert float(jensen_shannon(p, q)) == pytest.approx(float(jensen_shannon(q, p)), abs=1e-7)
    disjoint = jensen_shannon(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]))
    assert float(disjoint) == pytest.approx(MAX_JS, abs=1e-5)
    m = 0.5 * (p + q)
    manual = 0.5 * (p * (p / m).log()).sum() + 0.5 * (q * (q / m).log()).sum()
    assert float(jensen_shannon(p, q)) == pytest.approx(float(manual), abs=1e-6)


def test_single_label_apc_compares_the_prediction_with_the_softmax_of_label_cosines():
    similarity = torch.tensor([[0.9, -0.2, 0.1], [0.0, 0.5, -0.5]])
    temperature = 0.1
    # A prediction equal to the attribution distribution has zero APC ...
    assert float(apc_loss(similarity / temperature, similarity, "single", temperature)) == pytest.approx(0, abs=1e-6)
    # ... and the value is the mean JS of the two softmaxes.
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 3.0]])
    expected = jensen_shannon(torch.softmax(logits, 1), torch.softmax(similarity / temperature, 1)).mean()
    assert float(apc_loss(logits, similarity, "single", temperature)) == pytest.approx(float(expected), abs=1e-6)


def test_multi_label_apc_is_a_per_label_bernoulli_divergence():
    similarity = torch.tensor([[0.5, -0.5]])
    logits = torch.tensor([[5.0, 5.0]])  # label 0 agrees with its attribution, label 1 does not
    per_label = []
    for j in range(2):
        p, q = torch.sigmoid(logits[0, j]), torch.sigmoid(similarity[0, j] / 0.1)
        per_label.append(float(jensen_shannon(torch.stack([p, 1 - p]), torch.stack([q, 1 - q]))))
    assert float(apc_loss(logits, similarity, "multi", 0.1)) == pytest.approx(np.mean(per_label), abs=1e-6)
    assert per_label[0] < 0.01 < per_label[1]
    # The multi-label term does not couple labels through a softmax: the single-label one does.
    assert float(apc_loss(logits, similarity, "multi", 0.1)) != pytest.approx(
        float(apc_loss(logits, similarity, "single", 0.1)), abs=1e-3)


# --------------------------------------------------------------------------- the label moving average


def test_label_embeddings_move_by_a_moving_average_of_the_optimiser_steps():
    method = mmerbench.make_method("lsgmer", **SMALL, label_momentum=0.75)
    model = LSGMER(LSGMERConfig(modality_dims={"audio": 5, "text": 6}, n_labels=3, hidden=8, layers=1, heads=2,
                                feedforward=16))
    method.on_fit_start(model, None)
    method.moving_average_labels(model)  # the first call remembers L_(t-1)
    before = model.label_embeddings.detach().clone()
    with torch.no_grad():
        model.label_embeddings.add_(1.0)  # what an optimiser step produced: L'
    method.moving_average_labels(model)
    expected = 0.75 * before + 0.25 * (before + 1.0)
    assert torch.allclose(model.label_embeddings, expected)
    assert torch.equal(method.previous_labels_, model.label_embeddings.detach())

    method.set_params(label_momentum=0.0)  # 0: no moving average, the step stands
    with torch.no_grad():
        model.label_embeddings.add_(1.0)
    stepped = model.label_embeddings.detach().clone()
    method.moving_average_labels(model)
    assert torch.equal(model.label_embeddings, stepped)


def test_fit_damps_the_label_embeddings_updates():
    data = make_tiny_dataset(q=3)
    free = mmerbench.make_method("lsgmer", **SMALL, label_momentum=0.0).fit(data.train, data.valid)
    damped = mmerbench.make_method("lsgmer", **SMALL, label_momentum=0.9).fit(data.train, data.valid)
    torch.manual_seed(0)  # both start from the same initial embeddings (same random_state)
    start = LSGMER(free.model_.config).label_embeddings
    moved_free = (free.model_.label_embeddings - start).norm()
    moved_damped = (damped.model_.label_embeddings - start).norm()
    assert moved_damped < 0.5 * moved_free, (float(moved_damped), float(moved_free))


def test_class_mean_update_moves_each_present_label_towards_its_batch_centroid():
    method = mmerbench.make_method("lsgmer", **SMALL, label_update="class-mean", label_momentum=0.5)
    model = LSGMER(LSGMERConfig(modality_dims={"audio": 5, "text": 6}, n_labels=3, hidden=4, layers=1, heads=2,
                                feedforward=8))
    before = model.label_embeddings.detach().clone()
    fused = torch.tensor([[1.0, 0, 0, 0], [3.0, 0, 0, 0], [0, 2.0, 0, 0]])
    labels = torch.tensor([[1, 0, 0], [1, 1, 0], [0, 1, 0]])  # label 2 is absent from the batch
    method.move_labels_to_class_means(model, fused, labels)
    after = model.label_embeddings
    assert torch.allclose(after[0], 0.5 * before[0] + 0.5 * torch.tensor([2.0, 0, 0, 0]))
    assert torch.allclose(after[1], 0.5 * before[1] + 0.5 * torch.tensor([1.5, 1.0, 0, 0]))
    assert torch.equal(after[2], before[2])


def test_class_mean_embeddings_get_no_gradient_and_still_learn_in_fit():
    data = make_tiny_dataset(q=3)
    fitted = mmerbench.make_method("lsgmer", **SMALL, label_update="class-mean").fit(data.train, data.valid)
    assert not fitted.model_.label_embeddings.requires_grad
    torch.manual_seed(0)
    start = LSGMER(fitted.model_.config).label_embeddings
    assert not torch.allclose(fitted.model_.label_embeddings, start)  # moved by the centroids
    proba = fitted.predict_proba(data.test)
    assert np.isfinite(proba).all() and proba.shape == (len(data.test), 3)


# --------------------------------------------------------------------------- modalities and label modes


def test_default_reads_audio_and_text_only_and_use_vision_adds_vision():
    data = make_tiny_dataset(q=3)
    default = mmerbench.make_method("lsgmer", **SMALL).fit(data.train, data.valid)
    assert default.model_.modalities == ["text", "audio"]  # the dataset's order, vision left out
    changed = data.test.to_memory()
    # New vision content (a constant shift would vanish in the input LayerNorm).
    changed.features["vision"] = np.random.default_rng(1).normal(size=changed.features["vision"].shape).astype(
        np.float32) * (changed.features["vision"] != 0)
    assert np.array_equal(default.predict_proba(data.test), default.predict_proba(changed))
    with_vision = mmerbench.make_method("lsgmer", **SMALL, use_vision=True).fit(data.train, data.valid)
    assert with_vision.model_.modalities == ["text", "audio", "vision"]
    assert not np.allclose(with_vision.predict_proba(data.test), with_vision.predict_proba(changed))


def _without(data, modality):
    from dataclasses import replace

    def drop(split):
        split = split.to_memory()
        split.features.pop(modality)
        split.lengths.pop(modality)
        return split

    return replace(data, train=drop(data.train), valid=drop(data.valid), test=drop(data.test),
                   modalities={m: d for m, d in data.modalities.items() if m != modality})


def test_missing_required_modalities_are_named():
    data = make_tiny_dataset(q=3)
    no_audio = _without(data, "audio")
    with pytest.raises(UsageError, match=r"lsgmer needs modalities \['audio', 'text'\].*\['text', 'vision'\]: audio missing"):
        mmerbench.make_method("lsgmer", **SMALL).fit(no_audio.train, no_audio.valid)
    no_vision = _without(data, "vision")
    mmerbench.make_method("lsgmer", **SMALL).fit(no_vision.train, no_vision.valid)  # the paper's setting
    with pytest.raises(UsageError, match=r"use_vision=True.*\['text', 'audio'\].*vision missing"):
        mmerbench.make_method("lsgmer", **SMALL, use_vision=True).fit(no_vision.train, no_vision.valid)


def test_label_modes_follow_the_data_and_refuse_the_wrong_kind():
    multi = make_tiny_dataset(q=3)
    single = as_single_label(multi)
    fitted = mmerbench.make_method("lsgmer", **SMALL).fit(single.train, single.valid)
    assert fitted.mode_ == "single"
    assert np.allclose(fitted.predict_proba(single.test).sum(axis=1), 1.0, atol=1e-5)  # a softmax
    assert mmerbench.make_method("lsgmer", **SMALL).fit(multi.train, multi.valid).mode_ == "multi"
    with pytest.raises(UsageError, match="label_mode='single'.*multi-label"):
        mmerbench.make_method("lsgmer", **SMALL, label_mode="single").fit(multi.train, multi.valid)
    with pytest.raises(UsageError, match="label_mode='multi'.*single-label"):
        mmerbench.make_method("lsgmer", **SMALL, label_mode="multi").fit(single.train, single.valid)


@pytest.mark.parametrize("change,word", [
    ({"gate_reduction": "sum"}, "gate_reduction"), ({"label_momentum": 1.0}, "label_momentum"),
    ({"label_update": "sgd"}, "label_update"),
    ({"apc_temperature": 0.0}, "apc_temperature"), ({"label_mode": "both"}, "label_mode"),
])
def test_bad_hyperparameters_are_refused_by_name(change, word):
    data = make_tiny_dataset(q=3)
    with pytest.raises(UsageError, match=word):
        mmerbench.make_method("lsgmer", **{**SMALL, **change}).fit(data.train, data.valid)


def test_a_missing_modality_for_some_samples_gives_finite_outputs():
    model = LSGMER(LSGMERConfig(modality_dims={"text": 6, "audio": 5}, n_labels=3, hidden=8, layers=1, heads=2,
                                feedforward=16)).eval()
    features, masks = random_masked_inputs({"text": 6, "audio": 5}, {"text": [4, 3], "audio": [0, 5]},
                                           {"text": 4, "audio": 5})
    with torch.no_grad():
        out = model(features, masks)
    assert all(torch.isfinite(v).all() for v in out.values())
    assert out["similarity"].abs().max() <= 1.0 + 1e-6 and not math.isnan(float(out["logits"].sum()))


# --------------------------------------------------------------------------- per-label rows (the default)


def test_per_label_enhancement_follows_the_equations_on_the_utterance_vector():
    """H_m = sigmoid(H2_m) * h0_m + H2_m with h0_m the utterance vector (mean over valid frames): one row
    per label; a missing modality gives zeros."""
    module = _enhancer("per-label")
    h0, h1, mask = _frames([4, 6, 0])
    labels = torch.randn(3, 8, generator=torch.Generator().manual_seed(1))
    out, h2 = module(labels, h0, h1, mask)
    utterance = (h0 * mask[..., None]).sum(1) / mask.sum(1).clamp_min(1)[:, None]
    assert out.shape == (3, 3, 8)
    assert torch.allclose(out, torch.sigmoid(h2) * utterance[:, None] + h2, atol=1e-6)
    assert (out[2] == 0).all()


def _permuted_predictions(gate_reduction: str):
    data = make_tiny_dataset(q=3)
    method = mmerbench.make_method("lsgmer", **SMALL, gate_reduction=gate_reduction).fit(data.train, data.valid)
    model = method.model_.eval()
    from mmerbench.training import Batch

    batch = Batch.from_split(data.test, np.arange(len(data.test)), torch.device("cpu"))
    with torch.no_grad():
        before = model(batch.features, batch.masks)["logits"]
        model.label_embeddings.copy_(model.label_embeddings[[1, 2, 0]])
        after = model(batch.features, batch.masks)["logits"]
    return before, after


def test_the_default_keeps_label_identity_and_the_pooled_reductions_lose_it():
    """Permuting the label embeddings changes the default's prediction; under "mean" it changes nothing
    (label identity is averaged away before the classifier -- why "mean" is no longer the default)."""
    assert mmerbench.make_method("lsgmer").gate_reduction == "per-label"
    before, after = _permuted_predictions("per-label")
    assert not torch.allclose(before, after, atol=1e-4)
    before, after = _permuted_predictions("mean")
    assert torch.allclose(before, after, atol=1e-5)


def test_class_mean_update_with_per_label_rows_uses_each_labels_own_row():
    method = mmerbench.make_method("lsgmer", **SMALL, label_update="class-mean", label_momentum=0.0)
    model = LSGMER(LSGMERConfig(modality_dims={"audio": 5, "text": 6}, n_labels=2, hidden=2, layers=1, heads=1,
                                feedforward=4))
    fused = torch.tensor([[[1.0, 0], [5.0, 5.0]], [[3.0, 0], [7.0, 7.0]]])  # (B=2, q=2, d=2)
    labels = torch.tensor([[1, 0], [1, 1]])
    method.move_labels_to_class_means(model, fused, labels)
    assert torch.allclose(model.label_embeddings[0], torch.tensor([2.0, 0.0]))  # rows 0 of both samples
    assert torch.allclose(model.label_embeddings[1], torch.tensor([7.0, 7.0]))  # row 1 of sample 1 only
