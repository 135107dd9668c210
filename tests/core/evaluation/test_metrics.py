"""mmerbench.score against scikit-learn, thresholds against brute force."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

import mmerbench
from mmerbench.evaluation.metrics import THRESHOLD_GRID, best_threshold, threshold_predictions


def _sklearn_scores(y_true, y_pred, single_label=False) -> dict:
    # sklearn reads a one-column matrix as binary targets, not multi-label: then score the positive
    # class only (labels=[1]), and compute the sample-wise Jaccard with an all-zero column added
    # (which changes no row's intersection or union).
    if y_true.shape[1] == 1:
        prf_args = (y_true.ravel(), y_pred.ravel())
        prf_kwargs = {"labels": [1], "zero_division": 0}
        pad = np.zeros_like(y_true)
        jaccard_args = (np.hstack([y_true, pad]), np.hstack([y_pred, pad]))
    else:
        prf_args, prf_kwargs, jaccard_args = (y_true, y_pred), {"zero_division": 0}, (y_true, y_pred)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns about empty rows / labels; we compare values
        scores = {
            "acc": skm.jaccard_score(*jaccard_args, average="samples", zero_division=0),
            "p": skm.precision_score(*prf_args, average="micro", **prf_kwargs),
            "r": skm.recall_score(*prf_args, average="micro", **prf_kwargs),
            "mif1": skm.f1_score(*prf_args, average="micro", **prf_kwargs),
            "maf1": skm.f1_score(*prf_args, average="macro", **prf_kwargs),
            "hamming": skm.hamming_loss(y_true, y_pred),
            "subset_acc": skm.accuracy_score(y_true, y_pred),
        }
        if single_label:
            classes = np.arange(y_true.shape[1])
            true_class, pred_class = y_true.argmax(axis=1), y_pred.argmax(axis=1)
            scores["single_acc"] = skm.accuracy_score(true_class, pred_class)
            scores["wf1"] = skm.f1_score(true_class, pred_class, labels=classes, average="weighted", zero_division=0)
        p, r, f1, support = skm.precision_recall_fscore_support(*prf_args, average=None, **prf_kwargs)
    scores["per_label"] = [
        {"p": p[j], "r": r[j], "f1": f1[j], "support": support[j]} for j in range(y_true.shape[1])
    ]
    return scores


def _assert_matches_sklearn(y_true, y_pred, single_label=False):
    ours = mmerbench.score(y_true, y_pred, single_label=single_label)
    theirs = _sklearn_scores(y_true, y_pred, single_label)
    for key, value in theirs.items():
        if key == "per_label":
            continue
        assert ours[key] == pytest.approx(value, abs=1e-12), f"{key}: ours {ours[key]}, sklearn {value}"
    for j, expected in enumerate(theirs["per_label"]):
        got = ours["per_label"][str(j)]
        for key, value in expected.items():
            assert got[key] == pytest.approx(value, abs=1e-12), f"label {j} {key}: ours {got[key]}, sklearn {value}"


@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (7, 2), (50, 6), (300, 12)])
@pytest.mark.parametrize("density", [0.05, 0.3, 0.8])
def test_multi_label_scores_match_sklearn_on_random_matrices(shape, density):
    rng = np.random.default_rng(hash((shape, density)) % 2**32)
    for _ in range(3):
        y_true = (rng.random(shape) < density).astype(np.uint8)
        flips = rng.random(shape) < 0.3
        y_pred = np.where(flips, 1 - y_true, y_true).astype(np.uint8)
        _assert_matches_sklearn(y_true, y_pred)


@pytest.mark.parametrize("case", ["empty_true_rows", "all_zero_predictions", "label_never_positive",
                                  "single_sample", "single_sample_empty", "perfect", "all_wrong"])
def test_edge_cases_match_sklearn(case):
    rng = np.random.default_rng(7)
    y_true = (rng.random((20, 5)) < 0.4).astype(np.uint8)
    y_pred = (rng.random((20, 5)) < 0.4).astype(np.uint8)
    if case == "empty_true_rows":
        y_true[:6] = 0
        y_pred[:3] = 0  # rows 0-2: empty union (score 0); rows 3-5: only false positives
    elif case == "all_zero_predictions":
        y_pred[:] = 0
    elif case == "label_never_positive":
        y_true[:, 2] = 0
        y_pred[:, 2] = 0
        y_true[:, 4] = 0  # and one never true but predicted
    elif case == "single_sample":
        y_true, y_pred = y_true[:1], y_pred[:1]
    elif case == "single_sample_empty":
        y_true, y_pred = np.zeros((1, 5), np.uint8), np.zeros((1, 5), np.uint8)
    elif case == "perfect":
        y_pred = y_true.copy()
    elif case == "all_wrong":
        y_pred = 1 - y_true
    _assert_matches_sklearn(y_true, y_pred)


def test_known_values_by_hand():
    y_true = np.array([[1, 0, 1], [0, 0, 0], [0, 1, 0]])
    y_pred = np.array([[1, 1, 0], [0, 0, 0], [0, 1, 0]])
    scores = mmerbench.score(y_true, y_pred, label_names=["a", "b", "c"])
    assert scores["acc"] == pytest.approx((1 / 3 + 0 + 1) / 3)  # the empty row scores 0, not 1
    assert scores["p"] == pytest.approx(2 / 3) and scores["r"] == pytest.approx(2 / 3)
    assert scores["hamming"] == pytest.approx(2 / 9)
    assert scores["subset_acc"] == pytest.approx(2 / 3)
    assert scores["per_label"]["c"] == {"p": 0.0, "r": 0.0, "f1": 0.0, "support": 1.0}
    assert scores["per_label"]["b"]["p"] == pytest.approx(0.5)
    assert "single_acc" not in scores


@pytest.mark.parametrize("n, q", [(1, 3), (40, 2), (200, 7)])
def test_single_label_scores_match_sklearn(n, q):
    rng = np.random.default_rng(n * q)
    eye = np.eye(q, dtype=np.uint8)
    y_true = eye[rng.integers(0, q, n)]
    y_pred = np.where(rng.random((n, 1)) < 0.6, y_true, eye[rng.integers(0, q, n)])
    _assert_matches_sklearn(y_true, y_pred, single_label=True)


def test_score_rejects_bad_input():
    with pytest.raises(ValueError, match="only 0 and 1"):
        mmerbench.score(np.array([[0, 2]]), np.array([[0, 1]]))
    with pytest.raises(ValueError, match="differ in shape"):
        mmerbench.score(np.zeros((3, 2)), np.zeros((3, 3)))


# --------------------------------------------------------------------------- thresholds


def _brute_force_threshold(y_true, proba):
    """Grid value with the best sklearn micro-F1; ties go to the value closest to 0.5, then the lower."""
    best = None
    for t in THRESHOLD_GRID:
        y_pred = (proba > t).astype(int)
        if y_true.shape[1] == 1:  # binary targets for sklearn: score the positive class
            score = skm.f1_score(y_true.ravel(), y_pred.ravel(), labels=[1], average="micro", zero_division=0)
        else:
            score = skm.f1_score(y_true, y_pred, average="micro", zero_division=0)
        key = (score, -abs(t - 0.5), -t)
        if best is None or key > best[0]:
            best = (key, t)
    return float(best[1])


@pytest.mark.parametrize("seed", range(6))
def test_best_threshold_maximises_micro_f1_like_a_brute_force_loop(seed):
    rng = np.random.default_rng(seed)
    n, q = rng.integers(5, 120), rng.integers(1, 8)
    y_true = (rng.random((n, q)) < rng.uniform(0.05, 0.6)).astype(np.uint8)
    proba = np.clip(0.5 * y_true + rng.normal(rng.uniform(0.05, 0.4), 0.25, (n, q)), 0, 1)
    chosen = best_threshold(y_true, proba)
    assert chosen in THRESHOLD_GRID
    assert chosen == pytest.approx(_brute_force_threshold(y_true, proba))


def test_best_threshold_per_label_matches_per_label_brute_force():
    rng = np.random.default_rng(11)
    y_true = (rng.random((80, 4)) < [0.1, 0.3, 0.5, 0.7]).astype(np.uint8)
    proba = np.clip(0.4 * y_true + rng.random((80, 4)) * [0.3, 0.6, 0.9, 0.5], 0, 1)
    chosen = best_threshold(y_true, proba, per_label=True)
    expected = [_brute_force_threshold(y_true[:, [j]], proba[:, [j]]) for j in range(4)]
    np.testing.assert_allclose(chosen, expected)


def test_best_threshold_keeps_0_5_when_the_score_is_flat():
    assert best_threshold(np.zeros((10, 3), np.uint8), np.full((10, 3), 0.3)) == 0.5


def test_best_threshold_depends_only_on_its_arguments():
    rng = np.random.default_rng(3)
    y_true = (rng.random((60, 5)) < 0.3).astype(np.uint8)
    proba = rng.random((60, 5))
    kept_true, kept_proba = y_true.copy(), proba.copy()
    first = best_threshold(y_true, proba)
    np.random.seed(123)
    rng.random(1000)
    order = rng.permutation(60)
    assert best_threshold(y_true, proba) == first
    assert best_threshold(y_true[order], proba[order]) == first  # row order is irrelevant
    np.testing.assert_array_equal(y_true, kept_true)  # inputs untouched
    np.testing.assert_array_equal(proba, kept_proba)


def test_threshold_predictions():
    proba = np.array([[0.2, 0.5, 0.9], [0.6, 0.1, 0.4], [0.3, 0.3, 0.3]])
    np.testing.assert_array_equal(threshold_predictions(proba, 0.5), [[0, 0, 1], [1, 0, 0], [0, 0, 0]])  # strict >
    np.testing.assert_array_equal(threshold_predictions(proba, [0.1, 0.6, 0.35]), [[1, 0, 1], [1, 0, 1], [1, 0, 0]])
    single = threshold_predictions(proba, 0.95, single_label=True)  # argmax, whatever the threshold
    np.testing.assert_array_equal(single, [[0, 0, 1], [1, 0, 0], [1, 0, 0]])
    assert single.dtype == np.uint8 and (single.sum(axis=1) == 1).all()


def test_empty_true_label_set_follows_the_stated_rule_and_sklearn():
    """One sample with no true label, predicted with none: Acc 0 (empty union), SubsetAcc 1 (equal sets).

    The rule is stated once (EMPTY_LABEL_SET_RULE, also in every footer); scikit-learn's conventions agree:
    jaccard_score(average="samples", zero_division=0) and accuracy_score.
    """
    from mmerbench.evaluation.metrics import EMPTY_LABEL_SET_RULE

    y_true = np.array([[0, 0, 0], [1, 0, 1]])
    y_pred = np.array([[0, 0, 0], [1, 0, 0]])
    ours = mmerbench.score(y_true, y_pred)
    assert ours["acc"] == pytest.approx((0.0 + 0.5) / 2)
    assert ours["subset_acc"] == pytest.approx((1.0 + 0.0) / 2)
    assert ours["acc"] == pytest.approx(skm.jaccard_score(y_true, y_pred, average="samples", zero_division=0))
    assert ours["subset_acc"] == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert ours["hamming"] == pytest.approx(skm.hamming_loss(y_true, y_pred))
    alone = mmerbench.score(y_true[:1], y_pred[:1])
    assert (alone["acc"], alone["subset_acc"]) == (0.0, 1.0)  # Acc below SubsetAcc, as the rule warns
    assert "0 in Acc" in EMPTY_LABEL_SET_RULE and "1 in SubsetAcc" in EMPTY_LABEL_SET_RULE
