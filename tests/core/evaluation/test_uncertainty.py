"""Uncertainty quality scores against scikit-learn / scipy on cases whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import rankdata, spearmanr
from sklearn.metrics import roc_auc_score

from mmerbench.evaluation.uncertainty import (
    auroc,
    average_ranks,
    bernoulli_entropy,
    noise_spearman,
    noise_spearman_per_modality,
    per_label_error_detection,
    quantile_normalise,
    risk_coverage_area,
    risk_coverage_curve,
    spearman,
)


def direct_aurc(uncertainty, error) -> float:
    """Risk-coverage area by a plain loop (no ties in the inputs it is used on)."""
    order = np.argsort(uncertainty)
    risks = [error[order[:k]].mean() for k in range(1, len(order) + 1)]
    return float(np.mean(risks))


def test_auroc_is_one_when_uncertainty_ranks_errors_perfectly_and_zero_reversed():
    errors = np.array([0, 0, 1, 0, 1, 1, 0, 0], dtype=bool)
    perfect = errors + np.linspace(0, 0.5, 8)
    assert auroc(perfect, errors) == pytest.approx(1.0) == roc_auc_score(errors, perfect)
    assert auroc(-perfect, errors) == pytest.approx(0.0) == roc_auc_score(errors, -perfect)
    assert auroc(np.ones(8), errors) == pytest.approx(0.5)
    assert auroc(perfect, np.zeros(8)) is None


def test_auroc_matches_scikit_learn_with_ties():
    rng = np.random.default_rng(0)
    score = rng.integers(0, 6, 500).astype(float)  # many ties
    errors = rng.random(500) < 0.3
    assert auroc(score, errors) == pytest.approx(roc_auc_score(errors, score), abs=1e-12)


def test_average_ranks_match_scipy():
    values = np.array([3.0, 1.0, 3.0, 2.0, 3.0, 0.5])
    np.testing.assert_array_equal(average_ranks(values), rankdata(values))


def test_per_label_scores_average_labels_with_both_outcomes_only():
    errors = np.array([[1, 0, 0], [0, 0, 1], [1, 0, 0], [0, 0, 1]], dtype=bool)
    uncertainty = np.array([[0.9, 0.1, 0.2], [0.1, 0.2, 0.25], [0.8, 0.3, 0.3], [0.2, 0.4, 0.1]])
    scores = per_label_error_detection(uncertainty, errors)
    # label 0: perfect (1.0); label 1 has no error (left out, not counted as 0.5); label 2: one pair of 4 (0.25)
    assert scores["unc_auroc"] == pytest.approx((1.0 + 0.25) / 2)
    expected = np.mean([direct_aurc(uncertainty[:, j], errors[:, j].astype(float)) for j in range(3)])
    assert scores["aurc"] == pytest.approx(expected)


def test_aurc_matches_a_direct_loop_and_is_lowest_for_a_perfect_ranking():
    rng = np.random.default_rng(2)
    uncertainty = rng.random(200)
    errors = (rng.random(200) < 0.25).astype(float)
    assert risk_coverage_area(uncertainty, errors) == pytest.approx(direct_aurc(uncertainty, errors))
    perfect = errors + 0.01 * rng.random(200)
    reversed_ = -perfect
    n, e = 200, int(errors.sum())
    optimal = np.mean([max(0, k - (n - e)) / k for k in range(1, n + 1)])
    assert risk_coverage_area(perfect, errors) == pytest.approx(optimal)
    assert risk_coverage_area(reversed_, errors) > risk_coverage_area(uncertainty, errors) > optimal


def test_aurc_of_a_constant_score_is_the_error_rate():
    errors = np.array([1, 0, 0, 1, 0, 0, 0, 0], dtype=float)
    assert risk_coverage_area(np.zeros(8), errors) == pytest.approx(errors.mean())


def test_entropy_is_symmetric_and_peaks_at_one_half():
    assert bernoulli_entropy(0.5) == pytest.approx(np.log(2))
    assert bernoulli_entropy(0.2) == pytest.approx(bernoulli_entropy(0.8))
    assert bernoulli_entropy(0.0) < 1e-5 and np.isfinite(bernoulli_entropy(1.0))


def test_noise_spearman_uses_validation_quantiles_per_label():
    rng = np.random.default_rng(3)
    noise = rng.random((300, 3))
    # label 1's uncertainty lives on a scale 1000x larger: pooling raw scores would let it dominate
    test = np.stack([noise.mean(1) + 0.05 * rng.random(300), 1000 * rng.random(300)], axis=1)
    valid = np.stack([rng.random(100), 1000 * rng.random(100)], axis=1)
    normalised = quantile_normalise(test, valid)
    assert normalised.min() >= 0 and normalised.max() <= 1
    # quantiles are multiples of 1/100: means of equal sums are ties, whatever their rounding
    expected = spearmanr(np.round(normalised.mean(1), 12), noise.mean(1)).statistic
    assert noise_spearman(test, valid, noise) == pytest.approx(expected)
    raw = spearmanr(test.mean(1), noise.mean(1)).statistic
    assert noise_spearman(test, valid, noise) > raw + 0.2


def test_per_modality_noise_spearman():
    rng = np.random.default_rng(4)
    noise = rng.random((200, 2))
    uncertainty = np.stack([noise + 0.01 * rng.random((200, 2))] * 3, axis=1)  # (N, q=3, M=2)
    reference = rng.random((50, 3, 2))
    out = noise_spearman_per_modality(uncertainty, reference, noise, ["text", "audio"])
    assert set(out) == {"noise_spearman_text", "noise_spearman_audio"}
    assert out["noise_spearman_text"] > 0.9 and out["noise_spearman_audio"] > 0.9


def test_spearman_matches_scipy_and_is_none_when_constant():
    rng = np.random.default_rng(5)
    a, b = rng.random(50), rng.random(50)
    assert spearman(a, b) == pytest.approx(spearmanr(a, b).statistic)
    assert spearman(np.ones(5), np.arange(5)) is None


def test_entropy_of_p_and_of_its_complement_are_the_same_number():
    rng = np.random.default_rng(0)
    p = np.r_[rng.random(10_000), rng.random(1000) * 1e-6, np.arange(101) / 100, [0.0, 1.0, 0.5]]
    np.testing.assert_array_equal(bernoulli_entropy(p), bernoulli_entropy(1.0 - p))
    np.testing.assert_array_equal(bernoulli_entropy(p.astype(np.float32)), bernoulli_entropy(1.0 - p.astype(np.float32)))


def _tree_votes(n_trees=100, shape=(400, 3), seed=0):
    """Random-forest-like probabilities: votes k / T computed as a mean of 0/1 trees, so p and 1 - p pairs
    come from separate sums (0.3 and 0.7 are not exact complements in floating point)."""
    rng = np.random.default_rng(seed)
    votes = rng.random((n_trees, *shape)) < rng.random(shape)
    return votes.mean(axis=0), np.minimum(votes.sum(axis=0), n_trees - votes.sum(axis=0))


def test_symmetric_tree_votes_tie_in_every_ranking():
    proba, distance = _tree_votes()  # distance: min(k, T - k), an exactly symmetric integer score
    exact = distance.astype(float)  # the more votes on the minority side, the more uncertain
    entropy = bernoulli_entropy(proba)
    rng = np.random.default_rng(1)
    errors = rng.random(proba.shape) < 0.3
    for j in range(proba.shape[1]):
        np.testing.assert_array_equal(average_ranks(entropy[:, j]), average_ranks(exact[:, j]))
        assert auroc(entropy[:, j], errors[:, j]) == auroc(exact[:, j], errors[:, j])
        np.testing.assert_array_equal(risk_coverage_curve(entropy[:, j], errors[:, j])[1],
                                      risk_coverage_curve(exact[:, j], errors[:, j])[1])
    reference = _tree_votes(seed=2)[0]
    np.testing.assert_array_equal(quantile_normalise(entropy, bernoulli_entropy(reference)),
                                  quantile_normalise(exact, _tree_votes(seed=2)[1].astype(float)))


def test_ties_within_rounding_but_distinct_values_apart():
    values = np.array([0.3, 0.3 * (1 + 1e-12), 0.3 * (1 + 1e-3), 0.1])
    np.testing.assert_array_equal(average_ranks(values), [2.5, 2.5, 4, 1])
