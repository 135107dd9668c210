"""How good an uncertainty score is: error detection (AUROC, AURC) and agreement with the true noise.

Every method has an uncertainty score per (sample, label): its own
``predict_uncertainty`` when it has one, else the Bernoulli entropy of its
probability. Uncertainty scales differ across labels (LDDU's ||sigma|| of a
rare label is not comparable to a frequent one's), so raw scores are never
pooled across labels:

- ``unc_auroc``: per label, the AUROC of the uncertainty as a detector of the
  label's misclassified entries (at the job's threshold); averaged over the
  labels that have both correct and wrong entries. 1.0 = every error is more
  uncertain than every correct entry; 0.5 = chance; 0.0 = reversed.
- ``aurc``: per label, the area under the risk-coverage curve when entries are
  accepted from least to most uncertain (mean over coverage k/n of the error
  rate among the k accepted); averaged over labels. Lower is better. Tied
  uncertainties are credited with their expected risk under a random order,
  so a constant score gets the label's plain error rate.
- ``noise_spearman``: per sample, each label's uncertainty turned into its
  quantile among the validation split's uncertainties for that label, then
  averaged over labels; Spearman correlation with the sample's true noise level
  (mean over modalities). Per modality when the method reports per-modality
  uncertainty.

Ties are ties. The entropy is computed from ``max(p, 1 - p)`` only, so that
H(p) and H(1 - p) are the same number to the last bit. Uncertainties that
agree to a relative ``TIE_RTOL`` (far below the resolution of probabilities
stored as float32) form one tie group in every ranking here (AUROC, AURC,
Spearman, quantiles): two entries whose scores differ only by rounding (the
tree votes 0.3 and 0.7 computed on separate paths) are never given an order
by that rounding or by the order of the samples. ``risk_coverage_curve`` is
the one risk-coverage definition: ``aurc`` is its mean, and the report's
figure draws it.
"""

from __future__ import annotations

import numpy as np

CLIP = 1e-7
TIE_RTOL = 1e-6  # float32 keeps about 7 digits: scores closer than this are the same score


def bernoulli_entropy(proba) -> np.ndarray:
    """Entropy (nats) of each Bernoulli(p): 0 at p in {0, 1}, log 2 at p = 0.5; H(p) == H(1 - p) exactly.

    Both terms come from the larger side ``hi = max(p, 1 - p)`` and ``lo = 1 - hi`` (exact, as hi >= 0.5),
    so p and its complement give bit-identical entropies (1 - p is exact for p >= 0.5, and for p < 0.5 the
    complement's larger side is the same rounded 1 - p).
    """
    p = np.asarray(proba)
    if not np.issubdtype(p.dtype, np.floating):
        p = p.astype(np.float64)
    # the larger side in the probabilities' own precision (a float32 1 - p is rounded in float32), so that
    # a complement computed in that precision lands on the same number; the logs in float64
    hi = np.where(p >= 0.5, p, p.dtype.type(1) - p).astype(np.float64)
    hi = np.clip(hi, 0.5, 1.0 - CLIP)
    lo = 1.0 - hi
    return -(hi * np.log(hi) + lo * np.log(lo))


def tie_groups(ordered) -> np.ndarray:
    """For sorted values, True where a new tie group starts: a value further than TIE_RTOL (relative) from
    the one before it. Groups chain, so a run of values each within TIE_RTOL of the next is one tie."""
    ordered = np.asarray(ordered, dtype=np.float64)
    if ordered.size == 0:
        return np.zeros(0, dtype=bool)
    gaps = np.diff(ordered)
    scale = np.maximum(np.abs(ordered[1:]), np.abs(ordered[:-1]))
    return np.r_[True, gaps > TIE_RTOL * scale]


def average_ranks(values) -> np.ndarray:
    """1-based ranks, ties (:func:`tie_groups`) sharing their average rank (scipy.stats.rankdata's 'average'
    for values that differ by more than rounding)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    n = values.size
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    new_group = tie_groups(ordered)
    starts = np.flatnonzero(new_group)
    ends = np.r_[starts[1:], n]
    group = np.cumsum(new_group) - 1
    ranks = np.empty(n)
    ranks[order] = ((starts + 1 + ends) / 2.0)[group]
    return ranks


def auroc(score, positive) -> float | None:
    """Probability that a random positive scores above a random negative (ties count half);
    None when one of the two classes is empty."""
    positive = np.asarray(positive, dtype=bool).ravel()
    n_positive = int(positive.sum())
    n_negative = positive.size - n_positive
    if n_positive == 0 or n_negative == 0:
        return None
    ranks = average_ranks(score)
    return float((ranks[positive].sum() - n_positive * (n_positive + 1) / 2.0) / (n_positive * n_negative))


def risk_coverage_area(uncertainty, error) -> float | None:
    """Area under the risk-coverage curve (:func:`risk_coverage_curve`): the mean of its risks."""
    curve = risk_coverage_curve(uncertainty, error)
    return None if curve is None else float(np.mean(curve[1]))


def risk_coverage_curve(uncertainty, error) -> tuple[np.ndarray, np.ndarray] | None:
    """(coverage k/n, risk) accepting the least uncertain entries first; None for no entries.

    The risk at coverage k/n is the expected error rate of the k accepted entries when tied entries
    (:func:`tie_groups`) are accepted in a random order: within a tie group every accepted entry is wrong at
    the group's error rate. So the curve never depends on the order of the samples.
    """
    uncertainty = np.asarray(uncertainty, dtype=np.float64).ravel()
    error = np.asarray(error, dtype=np.float64).ravel()
    n = uncertainty.size
    if n == 0:
        return None
    order = np.argsort(uncertainty, kind="mergesort")
    ordered, errors = uncertainty[order], error[order]
    new_group = tie_groups(ordered)
    starts = np.flatnonzero(new_group)
    sizes = np.diff(np.r_[starts, n])
    group = np.cumsum(new_group) - 1
    group_errors = np.add.reduceat(errors, starts)
    errors_before = np.r_[0.0, np.cumsum(group_errors)[:-1]]
    k = np.arange(1, n + 1)
    # Within a tie group every order is equally likely: each accepted entry is wrong at the group's rate.
    expected_errors = errors_before[group] + (k - starts[group]) * (group_errors / sizes)[group]
    return k / n, expected_errors / k


def spearman(a, b) -> float | None:
    """Spearman rank correlation; None when either side is constant."""
    ra, rb = average_ranks(a), average_ranks(b)
    if ra.size < 2 or np.ptp(ra) == 0 or np.ptp(rb) == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


def per_label_error_detection(uncertainty, errors) -> dict[str, float | None]:
    """``unc_auroc`` and ``aurc`` of (N, q) uncertainty for (N, q) boolean errors, label by label."""
    uncertainty = np.asarray(uncertainty, dtype=np.float64)
    errors = np.asarray(errors, dtype=bool)
    if uncertainty.shape != errors.shape:
        raise ValueError(f"uncertainty {uncertainty.shape} and errors {errors.shape} differ in shape")
    aurocs = [auroc(uncertainty[:, j], errors[:, j]) for j in range(errors.shape[1])]
    aurocs = [a for a in aurocs if a is not None]
    areas = [risk_coverage_area(uncertainty[:, j], errors[:, j]) for j in range(errors.shape[1])]
    areas = [a for a in areas if a is not None]
    return {
        "unc_auroc": float(np.mean(aurocs)) if aurocs else None,
        "aurc": float(np.mean(areas)) if areas else None,
    }


def quantile_normalise(uncertainty, reference) -> np.ndarray:
    """Each column's values as their quantile (share of reference values <= it) in that column of
    ``reference`` (N_ref, ...), so that labels (and modalities) on different scales become comparable."""
    uncertainty = np.asarray(uncertainty, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    flat_u = uncertainty.reshape(len(uncertainty), -1)
    flat_r = np.sort(reference.reshape(len(reference), -1), axis=0)
    if len(flat_r) == 0:
        raise ValueError("quantile normalisation needs a non-empty reference split")
    out = np.empty_like(flat_u)
    # a reference value within rounding of the score (TIE_RTOL) counts as equal to it, i.e. as <= it
    reach = flat_u + TIE_RTOL * np.abs(flat_u)
    for column in range(flat_u.shape[1]):
        out[:, column] = np.searchsorted(flat_r[:, column], reach[:, column], side="right") / len(flat_r)
    return out.reshape(uncertainty.shape)


def noise_spearman(uncertainty, reference, noise) -> float | None:
    """Spearman between per-sample uncertainty (labels quantile-normalised, averaged) and the mean noise."""
    per_sample = quantile_normalise(uncertainty, reference).mean(axis=1)
    return spearman(per_sample, np.asarray(noise, dtype=np.float64).reshape(len(per_sample), -1).mean(axis=1))


def noise_spearman_per_modality(uncertainty, reference, noise, modalities) -> dict[str, float | None]:
    """(N, q, M) per-modality uncertainty against each modality's own noise (N, M)."""
    normalised = quantile_normalise(uncertainty, reference).mean(axis=1)  # (N, M)
    noise = np.asarray(noise, dtype=np.float64)
    return {f"noise_spearman_{m}": spearman(normalised[:, k], noise[:, k]) for k, m in enumerate(modalities)}
