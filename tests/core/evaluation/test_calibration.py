"""Calibration scores against direct computations and scikit-learn's binary Brier / log-loss."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, log_loss

from mmerbench.evaluation.calibration import (
    brier_score,
    calibration_scores,
    expected_calibration_error,
    negative_log_likelihood,
    per_label_ece,
    reliability,
    top_class_ece,
)


def direct_ece(p: np.ndarray, y: np.ndarray, n_bins: int = 15) -> float:
    """The textbook loop: bins [b/15, (b+1)/15), the last one closed."""
    p, y = p.ravel(), y.ravel()
    total = 0.0
    for b in range(n_bins):
        lower, upper = b / n_bins, (b + 1) / n_bins
        inside = (p >= lower) & ((p < upper) if b < n_bins - 1 else (p <= upper))
        if inside.any():
            total += inside.mean() * abs(p[inside].mean() - y[inside].mean())
    return total


@pytest.fixture
def forecasts():
    rng = np.random.default_rng(0)
    proba = rng.random((400, 5))
    proba[:3, 0] = [0.0, 1.0, 14 / 15]  # the edges of the bins
    labels = (rng.random((400, 5)) < proba ** 1.5).astype(np.uint8)
    return proba, labels


def test_ece_matches_a_direct_computation(forecasts):
    proba, labels = forecasts
    assert expected_calibration_error(proba, labels) == pytest.approx(direct_ece(proba, labels), abs=1e-12)
    assert expected_calibration_error(proba, labels) > 0.01  # the labels are deliberately miscalibrated


def test_per_label_ece_is_each_columns_ece(forecasts):
    proba, labels = forecasts
    expected = [direct_ece(proba[:, j], labels[:, j]) for j in range(proba.shape[1])]
    np.testing.assert_allclose(per_label_ece(proba, labels), expected, atol=1e-12)
    assert calibration_scores(proba, labels)["ece_label"] == pytest.approx(np.mean(expected), abs=1e-12)


def test_perfect_calibration_bins_score_zero():
    # In each bin the observed frequency equals the probability exactly.
    proba = np.repeat([[0.1], [0.5], [0.9]], 10, axis=0)
    labels = np.concatenate([np.r_[1, [0] * 9], np.r_[[1] * 5, [0] * 5], np.r_[[1] * 9, 0]])[:, None]
    assert expected_calibration_error(proba, labels) == pytest.approx(0.0, abs=1e-12)


def test_brier_and_nll_match_scikit_learn_on_the_pooled_entries(forecasts):
    proba, labels = forecasts
    assert brier_score(proba, labels) == pytest.approx(brier_score_loss(labels.ravel(), proba.ravel()), rel=1e-12)
    clipped = np.clip(proba.ravel(), 1e-7, 1 - 1e-7)
    assert negative_log_likelihood(proba, labels) == pytest.approx(log_loss(labels.ravel(), clipped), rel=1e-10)
    # Direct: mean binary cross-entropy with the stated clipping (p = 0 and 1 stay finite).
    direct = -np.mean(labels * np.log(np.clip(proba, 1e-7, 1 - 1e-7))
                      + (1 - labels) * np.log(1 - np.clip(proba, 1e-7, 1 - 1e-7)))
    assert negative_log_likelihood(proba, labels) == pytest.approx(direct, rel=1e-10)


def test_top_class_ece_for_single_label_data():
    rng = np.random.default_rng(1)
    proba = rng.dirichlet(np.ones(4), size=300)
    truth = np.eye(4, dtype=np.uint8)[rng.integers(0, 4, 300)]
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == truth.argmax(axis=1)).astype(float)
    assert top_class_ece(proba, truth) == pytest.approx(direct_ece(confidence, correct), abs=1e-12)
    scores = calibration_scores(proba, truth, single_label=True)
    assert scores["ece"] == pytest.approx(direct_ece(confidence, correct), abs=1e-12)
    assert scores["ece"] != pytest.approx(expected_calibration_error(proba, truth))
    assert reliability(proba, truth, single_label=True)["kind"] == "top-class"


def test_reliability_data_has_the_agreed_shape_and_adds_up(forecasts):
    proba, labels = forecasts
    data = reliability(proba, labels)
    assert data["kind"] == "pooled"
    assert len(data["edges"]) == 16 and len(data["count"]) == 15
    assert sum(data["count"]) == proba.size
    counts = np.array(data["count"])
    gaps = np.abs(np.array([c if c is not None else 0 for c in data["confidence"]])
                  - np.array([f if f is not None else 0 for f in data["frequency"]]))
    assert (counts * gaps).sum() / counts.sum() == pytest.approx(expected_calibration_error(proba, labels))
    empty = reliability(np.full((4, 1), 0.5), np.zeros((4, 1)))
    assert empty["confidence"][0] is None and empty["count"][7] == 4
