"""Calibration of predicted probabilities: ECE (pooled and per label), Brier, NLL, reliability data.

Multi-label probabilities are judged entry by entry: every (sample, label)
pair is one binary forecast "this label is present with probability p".

- ``ece``: the (sample, label) entries pooled into 15 equal-width bins on p;
  the sum over bins of (share of entries in the bin) x |mean p - observed
  frequency of presence|. Bin b holds p in [b/15, (b+1)/15); p = 1 falls in
  the last bin.
- ``ece_label``: the same ECE computed for each label on its own, averaged.
- ``brier``: mean squared error of the probabilities over all entries.
- ``nll``: mean binary cross-entropy, probabilities clipped to [1e-7, 1 - 1e-7].

Single-label data (one-hot rows, argmax predictions) use the top-class
(confidence) ECE instead: the confidence of a row is its highest probability,
and the bin's observed frequency is how often the argmax is the true class.
Only numpy: a job's whole calibration costs milliseconds.
"""

from __future__ import annotations

import numpy as np

N_BINS = 15
CLIP = 1e-7


def _checked(proba, labels) -> tuple[np.ndarray, np.ndarray]:
    proba = np.asarray(proba, dtype=np.float64)
    labels = np.asarray(labels)
    if proba.ndim == 1:
        proba = proba[:, None]
    if labels.ndim == 1:
        labels = labels[:, None]
    if proba.shape != labels.shape:
        raise ValueError(f"probabilities {proba.shape} and labels {labels.shape} differ in shape")
    return proba, labels.astype(np.float64)


def bin_index(p: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """The equal-width bin of each probability: [b/n, (b+1)/n), with 1.0 in the last bin."""
    return np.minimum((np.asarray(p, dtype=np.float64) * n_bins).astype(np.int64), n_bins - 1).clip(0)


def _bin_stats(confidence: np.ndarray, outcome: np.ndarray, n_bins: int):
    """(count, sum of confidence, sum of outcome) per bin."""
    index = bin_index(confidence.ravel(), n_bins)
    count = np.bincount(index, minlength=n_bins)
    confidence_sum = np.bincount(index, weights=confidence.ravel(), minlength=n_bins)
    outcome_sum = np.bincount(index, weights=outcome.ravel(), minlength=n_bins)
    return count, confidence_sum, outcome_sum


def _ece_from_stats(count, confidence_sum, outcome_sum) -> float:
    total = count.sum()
    if total == 0:
        return 0.0
    # sum_b (n_b / N) |mean_conf_b - freq_b| = sum_b |conf_sum_b - outcome_sum_b| / N
    return float(np.abs(confidence_sum - outcome_sum).sum() / total)


def expected_calibration_error(proba, labels, n_bins: int = N_BINS) -> float:
    """ECE over all (sample, label) entries pooled."""
    proba, labels = _checked(proba, labels)
    return _ece_from_stats(*_bin_stats(proba, labels, n_bins))


def per_label_ece(proba, labels, n_bins: int = N_BINS) -> np.ndarray:
    """(q,) ECE of each label's column on its own."""
    proba, labels = _checked(proba, labels)
    return np.array([_ece_from_stats(*_bin_stats(proba[:, j], labels[:, j], n_bins)) for j in range(proba.shape[1])])


def top_class_confidence(proba, labels) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, correct) of single-label predictions: the highest probability and whether its
    class is the true one."""
    proba, labels = _checked(proba, labels)
    predicted = proba.argmax(axis=1)
    confidence = proba[np.arange(len(proba)), predicted]
    correct = (labels.argmax(axis=1) == predicted).astype(np.float64)
    return confidence, correct


def top_class_ece(proba, labels, n_bins: int = N_BINS) -> float:
    confidence, correct = top_class_confidence(proba, labels)
    return _ece_from_stats(*_bin_stats(confidence, correct, n_bins))


def brier_score(proba, labels) -> float:
    proba, labels = _checked(proba, labels)
    return float(np.mean((proba - labels) ** 2)) if proba.size else 0.0


def negative_log_likelihood(proba, labels) -> float:
    proba, labels = _checked(proba, labels)
    if not proba.size:
        return 0.0
    p = np.clip(proba, CLIP, 1.0 - CLIP)
    return float(-np.mean(labels * np.log(p) + (1.0 - labels) * np.log1p(-p)))


def reliability(proba, labels, *, single_label: bool = False, n_bins: int = N_BINS) -> dict:
    """Reliability-diagram data (record["reliability"][split]); empty bins have None."""
    if single_label:
        confidence, outcome = top_class_confidence(proba, labels)
        kind = "top-class"
    else:
        confidence, outcome = _checked(proba, labels)
        kind = "pooled"
    count, confidence_sum, outcome_sum = _bin_stats(confidence, outcome, n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = confidence_sum / count
        frequency = outcome_sum / count
    return {
        "kind": kind,
        "edges": [float(e) for e in np.linspace(0.0, 1.0, n_bins + 1)],
        "count": [int(c) for c in count],
        "confidence": [float(v) if c else None for v, c in zip(mean_confidence, count)],
        "frequency": [float(v) if c else None for v, c in zip(frequency, count)],
    }


def calibration_scores(proba, labels, *, single_label: bool = False) -> dict[str, float]:
    """``ece`` (top-class for single-label data), ``ece_label``, ``brier``, ``nll``."""
    ece = top_class_ece(proba, labels) if single_label else expected_calibration_error(proba, labels)
    per_label = per_label_ece(proba, labels)
    return {
        "ece": ece,
        "ece_label": float(per_label.mean()) if per_label.size else 0.0,
        "brier": brier_score(proba, labels),
        "nll": negative_log_likelihood(proba, labels),
    }
