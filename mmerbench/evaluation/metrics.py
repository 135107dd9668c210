"""Scores on {0, 1} predictions (README, "The protocol"), one function each.

Every ratio whose denominator is 0 counts as 0, as in the MMER papers' code.
Only numpy is needed: scoring must stay cheap and independent of
scikit-learn (the tests check each score against scikit-learn).

Empty label sets (a sample with no true emotion, predicted with none):
:data:`EMPTY_LABEL_SET_RULE` is the one statement of the convention, printed in
every leaderboard footer and the README. ``acc`` (the Jaccard index) scores
such a sample 0, because its union is empty (a zero denominator, as above;
scikit-learn's ``jaccard_score(average="samples", zero_division=0)``), while
``subset_acc`` scores it 1, because the predicted set equals the true set
(scikit-learn's ``accuracy_score``). So on data with empty true sets, Acc can
lie below SubsetAcc; ``hamming`` counts the sample's q correct zeros.
"""

from __future__ import annotations

import numpy as np


EMPTY_LABEL_SET_RULE = ("A sample with no true label predicted with none scores 0 in Acc (its union is empty, "
                        "like scikit-learn's jaccard_score with zero_division=0) and 1 in SubsetAcc (the sets "
                        "are equal, like scikit-learn's accuracy_score), so Acc can lie below SubsetAcc.")


def _as_binary(y: np.ndarray, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2:
        raise ValueError(f"{name} must be (N, q), got shape {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"{name} must contain only 0 and 1")
    return y.astype(bool)


def _ratio(numerator, denominator):
    numerator = np.asarray(numerator, dtype=float)
    denominator = np.asarray(denominator, dtype=float)
    out = np.zeros_like(numerator)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _counts(y_true: np.ndarray, y_pred: np.ndarray):
    tp = (y_true & y_pred).sum(axis=0)
    fp = (~y_true & y_pred).sum(axis=0)
    fn = (y_true & ~y_pred).sum(axis=0)
    return tp, fp, fn


def jaccard_accuracy(y_true, y_pred) -> float:
    """Mean over samples of |Y ∩ Ŷ| / |Y ∪ Ŷ|; an empty union scores 0."""
    intersection = (y_true & y_pred).sum(axis=1)
    union = (y_true | y_pred).sum(axis=1)
    return float(_ratio(intersection, union).mean()) if len(y_true) else 0.0


def micro_precision(y_true, y_pred) -> float:
    tp, fp, _ = _counts(y_true, y_pred)
    return float(_ratio(tp.sum(), tp.sum() + fp.sum()))


def micro_recall(y_true, y_pred) -> float:
    tp, _, fn = _counts(y_true, y_pred)
    return float(_ratio(tp.sum(), tp.sum() + fn.sum()))


def micro_f1(y_true, y_pred) -> float:
    tp, fp, fn = _counts(y_true, y_pred)
    return float(_ratio(2 * tp.sum(), 2 * tp.sum() + fp.sum() + fn.sum()))


def per_label_scores(y_true, y_pred) -> dict[str, np.ndarray]:
    tp, fp, fn = _counts(y_true, y_pred)
    return {
        "p": _ratio(tp, tp + fp),
        "r": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "support": y_true.sum(axis=0).astype(float),
    }


def macro_f1(y_true, y_pred) -> float:
    return float(per_label_scores(y_true, y_pred)["f1"].mean())


def hamming_loss(y_true, y_pred) -> float:
    return float((y_true != y_pred).mean()) if y_true.size else 0.0


def subset_accuracy(y_true, y_pred) -> float:
    return float((y_true == y_pred).all(axis=1).mean()) if len(y_true) else 0.0


def single_label_accuracy(y_true, y_pred) -> float:
    """Accuracy of the predicted class (argmax rows) against the true class."""
    return float((y_true.argmax(axis=1) == y_pred.argmax(axis=1)).mean()) if len(y_true) else 0.0


def weighted_f1(y_true, y_pred) -> float:
    """Per-class F1 weighted by true support (sklearn ``average='weighted'``)."""
    scores = per_label_scores(y_true, y_pred)
    total = scores["support"].sum()
    return float((scores["f1"] * scores["support"]).sum() / total) if total else 0.0


MULTI_LABEL_SCORES = {
    "acc": jaccard_accuracy,
    "p": micro_precision,
    "r": micro_recall,
    "mif1": micro_f1,
    "maf1": macro_f1,
    "hamming": hamming_loss,
    "subset_acc": subset_accuracy,
}
SINGLE_LABEL_SCORES = {"single_acc": single_label_accuracy, "wf1": weighted_f1}
LOWER_IS_BETTER = {"hamming", "ece", "brier", "ece_label", "nll", "aurc", "aurc_entropy"}


def score(y_true, y_pred, y_proba=None, *, single_label: bool = False, label_names=None) -> dict:
    """All scores of predictions ``y_pred`` against ``y_true`` (both (N, q) in {0, 1}).

    Returns a dict with ``acc, p, r, mif1, maf1, hamming, subset_acc`` (plus
    ``single_acc`` and ``wf1`` when ``single_label``) and ``per_label``:
    ``{label: {"p", "r", "f1", "support"}}``. ``y_proba`` is accepted for the
    calibration scores that take probabilities.
    """
    y_true = _as_binary(y_true, "y_true")
    y_pred = _as_binary(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} differ in shape")
    result = {key: fn(y_true, y_pred) for key, fn in MULTI_LABEL_SCORES.items()}
    if single_label:
        result.update({key: fn(y_true, y_pred) for key, fn in SINGLE_LABEL_SCORES.items()})
    names = list(label_names) if label_names is not None else [str(i) for i in range(y_true.shape[1])]
    if len(names) != y_true.shape[1]:
        raise ValueError(f"label_names has {len(names)} names but the labels have {y_true.shape[1]} columns")
    per_label = per_label_scores(y_true, y_pred)
    result["per_label"] = {
        name: {key: float(per_label[key][i]) for key in ("p", "r", "f1", "support")}
        for i, name in enumerate(names)
    }
    return result


def threshold_predictions(proba: np.ndarray, threshold, single_label: bool = False) -> np.ndarray:
    """{0, 1} predictions: ``proba > threshold`` (scalar or per label); argmax when single-label."""
    proba = np.asarray(proba, dtype=float)
    if single_label:
        out = np.zeros(proba.shape, dtype=np.uint8)
        out[np.arange(len(proba)), proba.argmax(axis=1)] = 1
        return out
    return (proba > np.asarray(threshold, dtype=float)).astype(np.uint8)


THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.05), 2)


def best_threshold(y_true, proba, per_label: bool = False) -> float | np.ndarray:
    """The grid threshold (0.05..0.95) maximising micro-F1 (or each label's F1).

    Ties go to the threshold closest to 0.5, so a flat score surface keeps the
    conventional default.
    """
    y_true = _as_binary(y_true, "y_true")
    proba = np.asarray(proba, dtype=float)
    order = np.argsort(np.abs(THRESHOLD_GRID - 0.5), kind="stable")
    grid = THRESHOLD_GRID[order]
    if not per_label:
        scores = [micro_f1(y_true, proba > t) for t in grid]
        return float(grid[int(np.argmax(scores))])
    chosen = np.empty(y_true.shape[1])
    for j in range(y_true.shape[1]):
        scores = [per_label_scores(y_true[:, [j]], proba[:, [j]] > t)["f1"][0] for t in grid]
        chosen[j] = grid[int(np.argmax(scores))]
    return chosen
