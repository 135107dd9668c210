"""What the report's figures draw, computed from records and predictions, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from mmerbench.reporting import figure_data


def test_risk_coverage_ranks_within_each_label_by_hand():
    labels = np.array([[1, 0], [1, 0], [0, 1], [0, 1]])
    proba = np.array([[0.9, 0.2], [0.4, 0.7], [0.2, 0.6], [0.6, 0.9]])  # errors: label 0 rows 1, 3; label 1 row 1
    uncertainty = np.array([[0.1, 0.1], [0.9, 0.8], [0.2, 0.2], [0.8, 0.3]])
    coverage, risk = figure_data.risk_coverage(proba, labels, 0.5, uncertainty)
    # label 0 order 0, 2, 3, 1 -> errors 0, 0, 1, 1; label 1 order 0, 2, 3, 1 -> errors 0, 0, 0, 1
    expected = (np.array([0, 0, 1 / 3, 2 / 4]) + np.array([0, 0, 0, 1 / 4])) / 2
    np.testing.assert_allclose(coverage, [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(risk, expected)


def test_tied_uncertainty_gives_a_flat_curve_whatever_the_sample_order():
    # a prior-like method: one probability per label, so every entry of a label ties; sorting errors first
    # must not make the curve spike at low coverage (it did with a stable argsort)
    labels = np.array([[1], [1], [0], [0], [0], [0]])
    proba = np.full((6, 1), 0.4)  # predicts absent: the two present entries are the errors
    _, risk = figure_data.risk_coverage(proba, labels, 0.5)
    np.testing.assert_allclose(risk, np.full(6, 2 / 6))


def test_the_figure_draws_the_curve_whose_mean_is_the_tables_aurc():
    from mmerbench.evaluation.job_scores import SplitOutputs, beyond_accuracy

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, (300, 4))
    proba = rng.integers(0, 11, (300, 4)) / 10  # tree votes: many ties, and p / 1 - p pairs
    for uncertainty in (None, rng.integers(0, 3, (300, 4)).astype(float)):
        outputs = {"test": SplitOutputs(proba, labels, uncertainty)}
        table = beyond_accuracy(outputs, 0.5)["metrics"]["test"]["aurc"]
        _, risk = figure_data.risk_coverage(proba, labels, 0.5, uncertainty)
        assert float(np.mean(risk)) == pytest.approx(table, abs=1e-15)
        order = rng.permutation(300)  # the order of the samples changes nothing
        _, shuffled = figure_data.risk_coverage(proba[order], labels[order], 0.5,
                                                None if uncertainty is None else uncertainty[order])
        np.testing.assert_allclose(shuffled, risk, atol=1e-15)


def test_conditions_are_parsed_and_curves_start_at_the_plain_test_split():
    records = {"a": [{"metrics": {"test": {"mif1": 0.8}, "test@text+audio": {"mif1": 0.7}, "test@text": {"mif1": 0.6},
                                  "test@missing-mean": {"mif1": 0.65}, "test@missing-rate=0.3": {"mif1": 0.5},
                                  "test@noise=1:audio": {"mif1": 0.75}}},
                     {"metrics": {"test": {"mif1": 0.6}, "test@missing-rate=0.3": {"mif1": 0.3}}}]}
    conditions = figure_data.condition_scores(records)
    assert list(figure_data.combination_table(conditions)) == ["text+audio", "text", "mean"]
    assert figure_data.rate_curves(conditions) == {"a": [(0.0, pytest.approx(0.7)), (0.3, pytest.approx(0.4))]}
    assert figure_data.noise_curves(conditions) == {"audio": {"a": [(0.0, pytest.approx(0.7)), (1.0, 0.75)]}}


def test_reliability_of_several_seeds_is_pooled_by_count():
    edges = list(np.linspace(0, 1, 3))
    first = {"kind": "pooled", "edges": edges, "count": [1, 3], "confidence": [0.2, 0.8], "frequency": [0.0, 1.0]}
    second = {"kind": "pooled", "edges": edges, "count": [0, 1], "confidence": [None, 0.6], "frequency": [None, 0.0]}
    pooled = figure_data.pooled_reliability([first, second])
    assert pooled["count"] == [1, 4]
    assert pooled["confidence"] == [pytest.approx(0.2), pytest.approx((3 * 0.8 + 0.6) / 4)]
    assert pooled["frequency"] == [0.0, pytest.approx(3 / 4)]
    assert figure_data.pooled_reliability([None, {}]) is None


def test_one_condition_patterns_are_not_drawn_as_modality_combinations():
    from mmerbench.reporting.figure_data import combination_table, condition_kind

    assert condition_kind("test@text+audio") == ("combination", "text+audio")
    for name in ("test@missing-modality:text", "test@missing-rate:text=0.5,audio=0.1",
                 "test@missing-rate=0.3@seeds=10"):
        assert condition_kind(name)[0] == "other", name
    assert list(combination_table({"test@text": {"br": 0.5}, "test@missing-modality:text": {"br": 0.4}})) == ["text"]
