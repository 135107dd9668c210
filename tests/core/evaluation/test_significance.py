"""Paired bootstrap, Holm, per-seed tests and the rank analysis, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mmerbench.evaluation.ranking import nemenyi_critical_difference, rank_analysis
from mmerbench.evaluation.significance import (
    BOOTSTRAP_METRICS, RowSamples, bootstrap_scores, compare_to_best, format_p, holm, observed_scores,
    per_seed_tests, resample_indices, resample_seeds,
)
from mmerbench.evaluation.metrics import score

Y = np.array([[1], [1], [0], [0]])
PERFECT = np.array([[1], [1], [0], [0]])
HALF = np.array([[1], [0], [1], [0]])  # one tp, one fn, one fp
OTHER_SEED = np.array([[0], [1], [0], [0]])  # one tp, one fn
INDICES = np.array([[0, 0, 1, 2], [2, 3, 3, 2], [1, 1, 3, 0]])


def _rows():
    return [RowSamples("a", Y, [PERFECT]), RowSamples("b", Y, [HALF, OTHER_SEED])]


def test_bootstrap_scores_by_hand():
    # resample 1 draws samples 0,0,1,2: a is perfect (1.0); b seed 0 has tp 2, fn 1, fp 1 -> 4/6,
    # b seed 1 has tp 1, fn 2 -> 2/4; b's score is the mean over its seeds.
    # resample 2 draws 2,3,3,2: a predicts nothing and nothing is true -> 0 (zero denominator);
    # b seed 0 has fp 2 -> 0, seed 1 nothing -> 0.
    # resample 3 draws 1,1,3,0: a 1.0; b seed 0 tp 1, fn 2 -> 2/4; seed 1 tp 2, fn 1 -> 4/5.
    expected = np.array([[1.0, (4 / 6 + 2 / 4) / 2], [0.0, 0.0], [1.0, (2 / 4 + 4 / 5) / 2]])
    np.testing.assert_allclose(bootstrap_scores(_rows(), "mif1", INDICES), expected)
    np.testing.assert_allclose(observed_scores(_rows(), "mif1"), [1.0, (2 / 4 + 2 / 3) / 2])


def test_compare_to_best_by_hand():
    comparison = compare_to_best(_rows(), "mif1", indices=INDICES, interval_metrics=["mif1"])
    assert comparison.best == "a"
    assert comparison.p_values == {"b": pytest.approx(1 / 3)}  # only resample 2 has a lead <= 0
    assert comparison.adjusted == {"b": pytest.approx(1 / 3)}  # one comparison: Holm changes nothing
    assert comparison.not_worse == {"a": True, "b": True}
    # percentile interval of a's scores [1, 0, 1]: numpy's linear interpolation between 0 and 1 at 2.5%
    assert comparison.intervals["a"]["mif1"] == (pytest.approx(0.05), pytest.approx(1.0))


def test_bootstrap_is_deterministic_for_a_seed():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, (200, 4))
    rows = [RowSamples(f"r{i}", y, [np.where(rng.random(y.shape) < 0.2 + 0.1 * i, 1 - y, y) for _ in range(2)])
            for i in range(3)]
    first = compare_to_best(rows, n_resamples=300, seed=7, interval_metrics=["mif1", "acc"])
    second = compare_to_best(rows, n_resamples=300, seed=7, interval_metrics=["mif1", "acc"])
    other = compare_to_best(rows, n_resamples=300, seed=8, interval_metrics=["mif1", "acc"])
    assert first.p_values == second.p_values and first.intervals == second.intervals
    assert first.intervals != other.intervals
    np.testing.assert_array_equal(resample_indices(50, 10, seed=3), resample_indices(50, 10, seed=3))


@pytest.mark.parametrize("metric", BOOTSTRAP_METRICS)
def test_every_bootstrap_metric_equals_the_score_on_the_whole_split(metric):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, (60, 5))
    y[:, 0] = 0  # a label never present: the zero-denominator rule
    prediction = np.where(rng.random(y.shape) < 0.3, 1 - y, y)
    expected = score(y, prediction, single_label=True)[metric]
    assert observed_scores([RowSamples("x", y, [prediction])], metric)[0] == pytest.approx(expected)


def test_a_clearly_worse_row_is_significant_and_identical_rows_are_not():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, (500, 6))
    good = np.where(rng.random(y.shape) < 0.05, 1 - y, y)
    bad = np.where(rng.random(y.shape) < 0.40, 1 - y, y)
    comparison = compare_to_best([RowSamples("good", y, [good]), RowSamples("twin", y, [good.copy()]),
                                  RowSamples("bad", y, [bad])])
    assert comparison.p_values["bad"] == 0.0 and not comparison.not_worse["bad"]
    assert comparison.p_values["twin"] == 1.0 and comparison.not_worse["twin"]


def test_rows_on_different_test_samples_are_refused():
    with pytest.raises(ValueError, match="same test samples"):
        compare_to_best([RowSamples("a", Y, [PERFECT]), RowSamples("b", 1 - Y, [PERFECT])])


def test_holm_against_direct_computation():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005 x 4 = 0.02; 0.01 x 3 = 0.03; 0.03 x 2 = 0.06; 0.04 x 1 = 0.04 -> max(0.06, 0.04) = 0.06
    np.testing.assert_allclose(holm(p), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm([0.5, 0.6]), [1.0, 1.0])  # capped at 1


def test_per_seed_tests_are_unpaired_scipy_tests():
    from scipy import stats

    best = [0.60 + 0.01 * s for s in range(5)]
    other = [0.50 + 0.02 * s for s in range(5)]
    result = per_seed_tests(best, other)
    assert result["mannwhitney_p"] == pytest.approx(stats.mannwhitneyu(best, other).pvalue)
    assert result["welch_p"] == pytest.approx(stats.ttest_ind(best, other, equal_var=False).pvalue)
    # seeds are not paired: shuffling one side's seed order changes nothing (a paired test would change)
    shuffled = per_seed_tests(best, other[::-1])
    assert shuffled["mannwhitney_p"] == result["mannwhitney_p"] and shuffled["welch_p"] == result["welch_p"]
    assert per_seed_tests([0.5], [0.4])["mannwhitney_p"] is None  # one seed: no test
    three = per_seed_tests([0.5, 0.6], [0.4, 0.3])  # 2 + 2 seeds: the smallest two-sided p is 2 / 6
    assert "cannot go below 0.3333" in three["note"]


def seed_predictions(y, f1, rng):
    """Predictions on (N, 1) labels whose miF1 is f1 (to 3 decimals): that many true entries missed at random."""
    positives = np.flatnonzero(y[:, 0])
    missed = int(round(2 * len(positives) * (1 - f1) / (2 - f1)))  # miF1 = 2(P - m) / (2P - m)
    prediction = y.copy()
    prediction[rng.choice(positives, missed, replace=False), 0] = 0
    return prediction


def constructed_case():
    """The issue's case: X = .87/.68/.85/.70/.81 per seed (mean .782, spread .087), Y = .76/.75/.77/.76/.77."""
    rng = np.random.default_rng(0)
    y = (rng.random((4000, 1)) < 0.5).astype(int)
    x = [seed_predictions(y, f, rng) for f in (.87, .68, .85, .70, .81)]
    yy = [seed_predictions(y, f, rng) for f in (.76, .75, .77, .76, .77)]
    return [RowSamples("X", y, x), RowSamples("Y", y, yy)]


def test_the_default_test_accounts_for_retraining_variance():
    rows = constructed_case()
    np.testing.assert_allclose(observed_scores(rows, "mif1"), [0.782, 0.762], atol=5e-4)
    fixed = compare_to_best(rows, test="fixed-models")
    assert fixed.best == "X" and fixed.p_values["Y"] < 0.01 and not fixed.not_worse["Y"]
    # over seeds, X's spread (sd .087) swamps its .02 lead: Y is not shown worse
    default = compare_to_best(rows)
    assert default.test == "seeds-and-samples"
    assert 0.15 < default.p_values["Y"] < 0.45 and default.not_worse["Y"]


def test_seed_resampling_draws_each_rows_own_seeds():
    rows = [RowSamples("a", Y, [PERFECT, HALF, OTHER_SEED]), RowSamples("b", Y, [HALF])]
    weights = resample_seeds(rows, 500, seed=3)
    assert weights.shape == (500, 4)
    np.testing.assert_allclose(weights[:, :3].sum(1), 1.0)  # a's three units share its weight
    np.testing.assert_allclose(weights[:, 3], 1.0)  # one seed: always itself
    assert np.all(np.isin(weights[:, :3] * 3, [0, 1, 2, 3]))  # counts of a draw of 3 with replacement
    assert len({tuple(w) for w in weights[:, :3]}) > 5  # the draws vary
    # with every unit weighted by its own seed-count, scores are the mean over the drawn seeds
    scores = bootstrap_scores(rows, "mif1", np.tile(np.arange(4), (500, 1)), weights)
    per_seed = np.array([1.0, 0.5, 2 / 3])  # PERFECT, HALF, OTHER_SEED on all four samples
    np.testing.assert_allclose(scores[:, 0], weights[:, :3] @ per_seed)


def test_p_below_the_resolution_of_the_resamples_is_written_as_such():
    assert format_p(0.0, 1000) == "< 0.001"
    assert format_p(0.0, 200) == "< 0.005"
    assert format_p(0.0004) == "< 0.001"
    assert format_p(0.0312, 1000) == "0.031"
    assert format_p(None) == ""


def test_unknown_test_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="seeds-and-samples, fixed-models"):
        compare_to_best(_rows(), test="t-test")


def test_rank_analysis_mean_ranks_friedman_and_critical_difference():
    from scipy import stats

    scores = {"d1": {"a": 0.9, "b": 0.8, "c": 0.7, "only-here": 0.1},
              "d2": {"a": 0.6, "b": 0.7, "c": 0.5},
              "d3": {"a": 0.9, "b": 0.5, "c": 0.4}}
    analysis = rank_analysis(scores)
    assert analysis.configurations == ["a", "b", "c"]  # "only-here" did not run everywhere
    assert analysis.mean_ranks == {"a": pytest.approx(4 / 3), "b": pytest.approx(5 / 3), "c": pytest.approx(3.0)}
    expected = stats.friedmanchisquare([0.9, 0.6, 0.9], [0.8, 0.7, 0.5], [0.7, 0.5, 0.4])
    assert analysis.friedman_p == pytest.approx(expected.pvalue)
    # Demšar (2006), table 5: q_0.05 = 2.343 for k = 3
    assert analysis.critical_difference == pytest.approx(2.343 * math.sqrt(3 * 4 / (6 * 3)), abs=2e-3)
    assert nemenyi_critical_difference(4, 10) == pytest.approx(2.569 * math.sqrt(4 * 5 / 60), abs=2e-3)
    assert set(analysis.nemenyi_p.columns) == {"a", "b", "c"}
    assert "at least 2 datasets" in rank_analysis({"d1": {"a": 1, "b": 2, "c": 3}}).note
