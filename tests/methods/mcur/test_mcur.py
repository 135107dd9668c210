"""MCUR's mechanisms on tiny tensors: modality-combination views, the MCB-CL positives and loss,
SUGR's uncertainty weights, the fusion's stand-ins, the label modes and the errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import mmerbench
from mmerbench.errors import UsageError
from mmerbench.testing.fixtures import as_single_label, make_tiny_dataset, random_masked_inputs
from mmerbench_methods._blocks.supcon import supervised_contrastive_loss
from mmerbench_methods.mcur.losses import (
    graded_supervised_contrastive,
    positive_weights,
    predictive_uncertainty,
    uncertainty_weights,
)
from mmerbench_methods.mcur.model import MCUR, MCURConfig, all_combinations, combination_ids

SMALL = dict(hidden=8, layers=1, heads=2, feedforward=16, projection=4, epochs=2, batch_size=16, lr=1e-3,
             device="cpu")
DIMS = {"text": 6, "audio": 5, "vision": 3}


# --------------------------------------------------------------------------- combinations and views


def test_the_seven_combinations_of_three_modalities():
    table = all_combinations(3)
    assert table.shape == (7, 3) and table.any(dim=1).all()
    assert len({tuple(row.tolist()) for row in table}) == 7
    assert sorted(combination_ids(table).tolist()) == list(range(1, 8))


def test_every_sample_is_seen_through_every_combination_it_has():
    method = mmerbench.make_method("mcur", **SMALL)
    available = torch.tensor([[True, True, True], [True, True, False], [False, False, True]])
    sample, combinations = method.training_views(available)
    assert torch.bincount(sample).tolist() == [7, 3, 1]
    assert not (combinations & ~available[sample]).any()  # a view only uses modalities its sample has
    for b in range(3):
        ids = combination_ids(combinations[sample == b]).tolist()
        assert len(set(ids)) == len(ids)
    method.set_params(combination_views="one")
    torch.manual_seed(0)
    sample, combinations = method.training_views(available)
    assert sample.tolist() == [0, 1, 2] and not (combinations & ~available).any() and combinations.any(dim=1).all()


def test_a_dropped_modality_does_not_reach_the_view_and_the_stand_in_does():
    torch.manual_seed(0)
    model = MCUR(MCURConfig(modality_dims=DIMS, n_labels=3, hidden=8, layers=1, heads=2, feedforward=16,
                            projection=4)).eval()
    u = torch.randn(2, 3, 8)
    text_and_audio = torch.tensor([[True, True, False]] * 2)
    with torch.no_grad():
        first = model.fuse(u, text_and_audio)
        changed = u.clone()
        changed[:, 2] += 10.0  # vision is not in the combination
        assert torch.equal(first["logits"], model.fuse(changed, text_and_audio)["logits"])
        changed[:, 0] += 10.0  # text is
        assert not torch.allclose(first["logits"], model.fuse(changed, text_and_audio)["logits"])
        model.missing[2] += 1.0  # the learned stand-in for vision is what the fusion reads instead
        assert not torch.allclose(first["logits"], model.fuse(u, text_and_audio)["logits"])
    zero = MCUR(MCURConfig(modality_dims=DIMS, n_labels=3, hidden=8, layers=1, heads=2, feedforward=16,
                           missing_fill="zero"))
    assert not zero.missing.requires_grad and (zero.missing == 0).all()


def test_prediction_uses_the_modalities_a_sample_has_and_ignores_padding():
    torch.manual_seed(0)
    model = MCUR(MCURConfig(modality_dims=DIMS, n_labels=3, hidden=8, layers=1, heads=2, feedforward=16)).eval()
    features, masks = random_masked_inputs(DIMS, {"text": [4, 3], "audio": [5, 0], "vision": [2, 3]},
                                           {"text": 4, "audio": 5, "vision": 3})
    with torch.no_grad():
        out = model(features, masks)
        u, available = model.utterances(features, masks)
        assert available.tolist() == [[True, True, True], [True, False, True]]
        assert torch.allclose(out["logits"], model.fuse(u, available)["logits"])
        garbage = {m: x.clone() for m, x in features.items()}
        for m in garbage:
            garbage[m][~masks[m]] = 40.0
        assert torch.allclose(out["logits"], model(garbage, masks)["logits"], atol=1e-5)
    assert torch.isfinite(out["logits"]).all()
    assert torch.allclose(out["z"].norm(dim=1), torch.ones(2), atol=1e-5)


def test_attention_pooling_reads_only_valid_frames():
    from mmerbench_methods.mcur.model import AttentionPooling

    torch.manual_seed(0)
    pool = AttentionPooling(4)
    frames = torch.randn(2, 3, 4)
    mask = torch.tensor([[True, True, False], [False, False, False]])
    with torch.no_grad():
        pooled = pool(frames, mask)
        padded = torch.cat([frames, torch.randn(2, 5, 4)], dim=1)  # more (non-zero) padding
        assert torch.allclose(pooled, pool(padded, torch.nn.functional.pad(mask, (0, 5))), atol=1e-6)
        weights = torch.softmax((pool.query[0] @ pool.key(frames[0, :2]).T) / 2.0, dim=-1)  # sqrt(4) = 2
        assert torch.allclose(pooled[0], (weights @ frames[0, :2])[0], atol=1e-5)
    assert (pooled[1] == 0).all()  # a missing modality pools to zeros


# --------------------------------------------------------------------------- MCB-CL


def test_positives_share_the_category_and_the_modality_combination():
    labels = torch.tensor([[1, 0, 0], [1, 0, 0], [1, 0, 0], [0, 1, 0]])
    combos = torch.tensor([7, 7, 3, 7])  # view 2: same emotion, other combination; view 3: other emotion
    weights = positive_weights(labels, combos, "label-set")
    assert weights.tolist() == [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]


def test_per_label_agreement_grades_positives_by_shared_emotions():
    labels = torch.tensor([[1, 1, 0], [1, 0, 0], [1, 1, 0], [0, 0, 1]])
    combos = torch.full((4,), 7)
    per_label = positive_weights(labels, combos, "per-label")
    assert per_label[0].tolist() == [0.0, 0.5, 1.0, 0.0]  # anchor 0 has two emotions
    assert per_label[1].tolist() == [1.0, 0.0, 1.0, 0.0]  # anchor 1's one emotion is in 0 and 2
    label_set = positive_weights(labels, combos, "label-set")
    assert label_set[0].tolist() == [0.0, 0.0, 1.0, 0.0] and label_set[1].sum() == 0
    # On one-hot labels both rules are the same.
    one_hot = torch.eye(3)[[0, 1, 0, 2]]
    assert torch.equal(positive_weights(one_hot, combos, "per-label"), positive_weights(one_hot, combos, "label-set"))


def test_graded_contrastive_equals_supcon_for_hard_positives_and_pulls_positives_together():
    z = torch.nn.functional.normalize(torch.randn(6, 4, generator=torch.Generator().manual_seed(0)), dim=1)
    classes = torch.tensor([0, 0, 1, 1, 2, 3])
    weights = (classes[:, None] == classes[None, :]).float().fill_diagonal_(0)
    ours = graded_supervised_contrastive(z, weights, 0.1)
    reference = supervised_contrastive_loss(z, classes, temperature=0.1)
    assert float(ours) == pytest.approx(float(reference), rel=1e-5)
    # Moving a positive closer to its anchor lowers the loss.
    closer = z.clone()
    closer[1] = torch.nn.functional.normalize(z[0] + 0.5 * z[1], dim=0)
    assert float(graded_supervised_contrastive(closer, weights, 0.1)) < float(ours)
    # No positive anywhere: 0, still attached to the graph.
    none = graded_supervised_contrastive(z.requires_grad_(), torch.zeros(6, 6), 0.1)
    assert float(none.detach()) == 0.0 and none.requires_grad


# --------------------------------------------------------------------------- SUGR


def test_entropy_uncertainty_is_normalised_to_zero_one():
    views = torch.arange(3)
    single = torch.tensor([[1 / 3, 1 / 3, 1 / 3], [1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    u = predictive_uncertainty(single, "single", "entropy", views)
    assert u[0] == pytest.approx(1.0, abs=1e-5) and u[1] == pytest.approx(0.0, abs=1e-4)
    assert u[2] == pytest.approx(math.log(2) / math.log(3), abs=1e-4)
    multi = torch.tensor([[0.5, 0.5], [0.99, 0.01], [0.5, 0.01]])
    u = predictive_uncertainty(multi, "multi", "entropy", views)
    assert u[0] == pytest.approx(1.0, abs=1e-5) and u[1] < 0.1 and u[1] < u[2] < u[0]


def test_disagreement_measures_how_much_the_combination_changes_the_answer():
    proba = torch.tensor([[0.8, 0.2], [0.8, 0.2], [0.9, 0.1], [0.1, 0.9]])
    sample = torch.tensor([0, 0, 1, 1])  # sample 0: two views agree; sample 1: they disagree
    u = predictive_uncertainty(proba, "single", "disagreement", sample)
    assert u[:2].tolist() == [0.0, 0.0]
    assert u[2] == pytest.approx(0.4, abs=1e-6) and u[3] == pytest.approx(0.4, abs=1e-6)


def test_uncertainty_weights_have_mean_one_and_the_chosen_direction():
    u = torch.tensor([0.0, 0.5, 1.0])
    emphasise = uncertainty_weights(u, "emphasise", 1.0)
    suppress = uncertainty_weights(u, "suppress", 1.0)
    assert float(emphasise.mean()) == pytest.approx(1.0) and float(suppress.mean()) == pytest.approx(1.0)
    assert emphasise[0] < emphasise[1] < emphasise[2] and suppress[0] > suppress[1] > suppress[2]
    assert emphasise[2] / emphasise[0] == pytest.approx(math.e, rel=1e-5)  # at most a factor e at tau 1
    assert torch.equal(uncertainty_weights(u, "none", 1.0), torch.ones(3))


def test_sugr_weights_reach_the_classification_loss(monkeypatch):
    from mmerbench.training import Batch
    from mmerbench_methods.mcur import method as mcur_method

    data = make_tiny_dataset(q=3)
    method = mmerbench.make_method("mcur", **SMALL, contrastive_weight=0.0)
    method.fit(data.train, data.valid)
    batch = Batch.from_split(data.train.take(np.arange(8)), np.arange(8), torch.device("cpu"))
    method.model_.eval()  # no dropout: the two losses differ only by the weights
    plain, _ = method.set_params(uncertainty_weighting="none").training_loss(method.model_, batch, 1)
    monkeypatch.setattr(mcur_method, "uncertainty_weights", lambda u, *args: 2.0 * torch.ones_like(u))
    doubled, _ = method.training_loss(method.model_, batch, 1)
    assert float(doubled.detach()) == pytest.approx(2 * float(plain.detach()), rel=1e-5)


# --------------------------------------------------------------------------- modes and errors


def test_works_on_multi_label_and_single_label_data():
    multi = make_tiny_dataset(q=3)
    single = as_single_label(multi)
    fitted = mmerbench.make_method("mcur", **SMALL).fit(single.train, single.valid)
    assert fitted.mode_ == "single"
    assert np.allclose(fitted.predict_proba(single.test).sum(axis=1), 1.0, atol=1e-5)
    assert (fitted.predict(single.test).sum(axis=1) == 1).all()
    assert mmerbench.make_method("mcur", **SMALL).fit(multi.train, multi.valid).mode_ == "multi"
    mmerbench.make_method("mcur", **SMALL, category_agreement="per-label").fit(multi.train, multi.valid)


def test_predict_uncertainty_is_the_normalised_entropy_of_the_prediction():
    multi = make_tiny_dataset(q=3)
    single = as_single_label(multi)
    fitted = mmerbench.make_method("mcur", **SMALL).fit(single.train, single.valid)
    proba = fitted.predict_proba(single.test)
    expected = -(proba * np.log(proba)).sum(axis=1) / np.log(3)
    uncertainty = fitted.predict_uncertainty(single.test)
    assert uncertainty.shape == proba.shape and np.allclose(uncertainty, expected[:, None], atol=1e-5)
    fitted = mmerbench.make_method("mcur", **SMALL).fit(multi.train, multi.valid)
    p = fitted.predict_proba(multi.test)
    bernoulli = -(p * np.log(p) + (1 - p) * np.log(1 - p)) / np.log(2)
    assert np.allclose(fitted.predict_uncertainty(multi.test), bernoulli, atol=1e-5)


def test_options_of_the_other_label_kind_are_refused():
    multi = make_tiny_dataset(q=3)
    single = as_single_label(multi)
    with pytest.raises(UsageError, match="label_mode='single'.*multi-label"):
        mmerbench.make_method("mcur", **SMALL, label_mode="single").fit(multi.train, multi.valid)
    with pytest.raises(UsageError, match="label_mode='multi'.*single-label"):
        mmerbench.make_method("mcur", **SMALL, label_mode="multi").fit(single.train, single.valid)
    with pytest.raises(UsageError, match="category_agreement='per-label' is a multi-label option.*single-label"):
        mmerbench.make_method("mcur", **SMALL, category_agreement="per-label").fit(single.train, single.valid)


@pytest.mark.parametrize("change,word", [
    ({"combination_views": "some"}, "combination_views"), ({"category_agreement": "jaccard"}, "category_agreement"),
    ({"uncertainty": "variance"}, "uncertainty"), ({"uncertainty_weighting": "up"}, "uncertainty_weighting"),
    ({"pooling": "max"}, "pooling"), ({"temperature": 0}, "temperature"), ({"missing_fill": "mean"}, "missing_fill"),
    ({"contrastive_positives": "instance"}, "contrastive_positives"), ({"view_weighting": "full"}, "view_weighting"),
    ({"selection": "test"}, "selection"),
])
def test_bad_hyperparameters_are_refused_by_name(change, word):
    data = make_tiny_dataset(q=3)
    with pytest.raises(UsageError, match=word):
        mmerbench.make_method("mcur", **{**SMALL, **change}).fit(data.train, data.valid)


# --------------------------------------------------------------------------- the readings of MCB-CL


def test_each_reading_of_the_positives():
    from mmerbench_methods.mcur.losses import contrastive_terms

    labels = torch.tensor([[1, 0, 0], [1, 0, 0], [1, 0, 0], [0, 1, 0]])
    combos = torch.tensor([7, 7, 3, 7])  # view 2: same emotion, other combination; view 3: other emotion
    (joint,) = contrastive_terms(labels, combos, "label-set", "joint")
    assert joint.tolist() == [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    (category,) = contrastive_terms(labels, combos, "label-set", "category")
    assert category.tolist() == [[0, 1, 1, 0], [1, 0, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]]  # across combinations
    by_combination, by_category = contrastive_terms(labels, combos, "label-set", "dual")
    assert by_combination.tolist() == [[0, 1, 0, 1], [1, 0, 0, 1], [0, 0, 0, 0], [1, 1, 0, 0]]  # any emotion
    assert torch.equal(by_category, category)


def test_the_dual_loss_is_the_mean_of_its_two_terms_and_the_default_reading():
    from mmerbench_methods.mcur.losses import contrastive_terms, mcb_contrastive_loss

    z = torch.nn.functional.normalize(torch.randn(6, 4, generator=torch.Generator().manual_seed(0)), dim=1)
    labels = torch.tensor([[1, 0], [1, 0], [0, 1], [0, 1], [1, 0], [0, 1]])
    combos = torch.tensor([7, 3, 7, 3, 7, 3])
    terms = [graded_supervised_contrastive(z, w, 0.1) for w in contrastive_terms(labels, combos, "label-set", "dual")]
    assert float(mcb_contrastive_loss(z, labels, combos, "label-set", "dual", 0.1)) == pytest.approx(
        float((terms[0] + terms[1]) / 2), rel=1e-6)
    assert mmerbench.make_method("mcur").contrastive_positives == "dual"


def test_the_reading_reaches_the_training_loss():
    from mmerbench.training import Batch

    data = make_tiny_dataset(q=3)
    method = mmerbench.make_method("mcur", **SMALL, uncertainty_weighting="none").fit(data.train, data.valid)
    batch = Batch.from_split(data.train.take(np.arange(16)), np.arange(16), torch.device("cpu"))
    method.model_.eval()
    values = {}
    for reading in ("joint", "dual", "category"):
        _, terms = method.set_params(contrastive_positives=reading).training_loss(method.model_, batch, 1)
        values[reading] = terms["mcb_cl"]
    assert len({round(v, 6) for v in values.values()}) == 3


# --------------------------------------------------------------------------- view weighting and selection


def test_view_weights_equal_per_sample_and_full_half():
    from mmerbench_methods.mcur.losses import view_weights

    sample = torch.tensor([0, 0, 0, 1])  # sample 0 has three views (the last one full), sample 1 one
    full = torch.tensor([False, False, True, True])
    assert view_weights(sample, full, "equal").tolist() == [1, 1, 1, 1]
    per_sample = view_weights(sample, full, "per-sample")
    assert per_sample.tolist() == pytest.approx([2 / 3, 2 / 3, 2 / 3, 2.0])  # each sample one unit, mean 1
    half = view_weights(sample, full, "full-half")
    assert half.tolist() == pytest.approx([0.5, 0.5, 1.0, 2.0])  # full view = the partial views together
    assert float(half.mean()) == pytest.approx(1.0)


def test_view_weighting_reaches_the_classification_loss(monkeypatch):
    from mmerbench.training import Batch
    from mmerbench_methods.mcur import method as mcur_method

    data = make_tiny_dataset(q=3)
    method = mmerbench.make_method("mcur", **SMALL, contrastive_weight=0.0, uncertainty_weighting="none")
    method.fit(data.train, data.valid)
    batch = Batch.from_split(data.train.take(np.arange(8)), np.arange(8), torch.device("cpu"))
    method.model_.eval()
    equal, _ = method.training_loss(method.model_, batch, 1)
    monkeypatch.setattr(mcur_method, "view_weights", lambda sample, full, weighting: 3.0 * torch.ones_like(
        sample, dtype=torch.float32))
    tripled, _ = method.training_loss(method.model_, batch, 1)
    assert float(tripled.detach()) == pytest.approx(3 * float(equal.detach()), rel=1e-5)


def test_selection_averages_validation_over_the_combinations():
    """With selection "combinations" the curve's valid score is the mean over the 7 modality combinations,
    each predicted with the other modalities removed; "full" keeps the full-modality score."""
    from mmerbench.data.perturb import with_modalities
    from mmerbench.evaluation.metrics import micro_f1
    from mmerbench_methods.mcur.model import all_combinations

    data = make_tiny_dataset(q=3)
    truth = data.valid.labels.astype(bool)
    one_epoch = dict(SMALL, epochs=1)  # the fitted model is then the scored epoch's
    method = mmerbench.make_method("mcur", **one_epoch).fit(data.train, data.valid)
    assert method.selection == "combinations" and "averaged over the modality combinations" in \
        method.fit_info_["selection"]
    scores = []
    for row in all_combinations(3).tolist():
        present = [m for m, kept in zip(data.valid.modalities, row) if kept]
        scores.append(micro_f1(truth, method.predict_proba(with_modalities(data.valid, present)) > 0.5))
    assert method.fit_info_["curve"][0]["valid_mif1"] == pytest.approx(float(np.mean(scores)), abs=1e-9)
    full = mmerbench.make_method("mcur", **one_epoch, selection="full").fit(data.train, data.valid)
    assert "with every modality" in full.fit_info_["selection"]
    assert full.fit_info_["curve"][0]["valid_mif1"] == pytest.approx(
        micro_f1(truth, full.predict_proba(data.valid) > 0.5), abs=1e-9)
