"""Paired bootstrap, Holm, per-seed tests and the rank analysis, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mmerbench.evaluation.ranking import nemenyi_critical_difference, rank_analysis
from mmerbench.evaluation.significance import (
    BOOTSTRAP_METRICS, RowSamples, bootstrap_scores, compare_to_best, holm, observed_scores, per_seed_tests,
    resample_indices,
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


def test_per_seed_tests_are_scipy_and_say_five_seeds_cannot_reach_005():
    from scipy import stats

    best = {s: 0.60 + 0.01 * s for s in range(5)}
    other = {s: 0.50 + 0.02 * s for s in range(5)}
    result = per_seed_tests(best, other)
    a, b = [best[s] for s in range(5)], [other[s] for s in range(5)]
    assert result["wilcoxon_p"] == pytest.approx(stats.wilcoxon(a, b).pvalue)
    assert result["ttest_p"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert result["wilcoxon_p"] >= 0.0625 and "cannot go below 0.0625" in result["note"]
    assert per_seed_tests({0: 0.5}, {0: 0.4})["wilcoxon_p"] is None  # one seed: no test


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
