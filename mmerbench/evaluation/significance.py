"""Is a difference between two leaderboard rows real? Paired tests on stored test predictions.

The leaderboard's mark comes from a paired bootstrap over test samples with
the seeds pooled: every resample draws N test-sample indices with replacement,
the same indices for every row, and a row's score in a resample is the mean
over its seeds of the metric on those samples. Because the rows share the
indices, how hard the drawn samples happen to be cancels in their difference;
that is what makes the test paired. The p-value of "row worse than the best"
is the share of resamples in which the best row's advantage is <= 0, and the
rows' p-values are Holm-corrected together.

Per-seed tests (Wilcoxon signed-rank, paired t) are computed for information
only: with 5 seeds the smallest two-sided Wilcoxon p-value is 2 / 2**5 =
0.0625, so they could never set a mark at alpha = 0.05.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

BOOTSTRAP_METRICS = ("acc", "p", "r", "mif1", "maf1", "hamming", "subset_acc", "single_acc", "wf1")
LOWER_IS_BETTER = frozenset({"hamming"})
DEFAULT_RESAMPLES = 1000
ALPHA = 0.05
_CHUNK = 200  # resamples scored at once: bounds memory at about _CHUNK x N x 8 bytes


@dataclass
class RowSamples:
    """One leaderboard row's test predictions: one (N, q) {0, 1} array per seed, on shared labels."""

    label: str
    y_true: np.ndarray
    y_pred: list[np.ndarray]
    seeds: list[int] = field(default_factory=list)

    def __post_init__(self):
        self.y_true = np.asarray(self.y_true).astype(bool)
        self.y_pred = [np.asarray(p).astype(bool) for p in self.y_pred]
        if not self.y_pred:
            raise ValueError(f"row {self.label!r} has no predictions")
        for prediction in self.y_pred:
            if prediction.shape != self.y_true.shape:
                raise ValueError(f"row {self.label!r}: predictions {prediction.shape} and labels "
                                 f"{self.y_true.shape} differ in shape")


class _Pieces:
    """Per-sample pieces of every score, for all (row, seed) units, as (N, units) columns.

    A score over a resample is a ratio of weighted sums of these columns, the
    weight of a sample being how often the resample drew it.
    """

    def __init__(self, rows: list[RowSamples]):
        y_true = rows[0].y_true
        self.n_samples, self.n_labels = y_true.shape
        self.unit_row = np.array([i for i, row in enumerate(rows) for _ in row.y_pred])
        tp, fp, fn, jaccard, exact, single = [], [], [], [], [], []
        for row in rows:
            for pred in row.y_pred:
                tp.append(y_true & pred)
                fp.append(~y_true & pred)
                fn.append(y_true & ~pred)
                union = (y_true | pred).sum(1)
                jaccard.append(np.divide((y_true & pred).sum(1), union, out=np.zeros(len(union)), where=union > 0))
                exact.append((y_true == pred).all(1))
                single.append(y_true.argmax(1) == pred.argmax(1))
        # per label: (N, units, q); per sample: (N, units)
        self.tp_label = np.stack(tp, axis=1).astype(np.float64)
        self.fp_label = np.stack(fp, axis=1).astype(np.float64)
        self.fn_label = np.stack(fn, axis=1).astype(np.float64)
        self.tp, self.fp, self.fn = self.tp_label.sum(2), self.fp_label.sum(2), self.fn_label.sum(2)
        self.jaccard = np.stack(jaccard, axis=1)
        self.exact = np.stack(exact, axis=1).astype(np.float64)
        self.single = np.stack(single, axis=1).astype(np.float64)

    def unit_scores(self, weights: np.ndarray, metric: str) -> np.ndarray:
        """(B, units) scores for (B, N) sample weights."""
        total = weights.sum(1, keepdims=True)
        if metric in ("mif1", "p", "r"):
            tp, fp, fn = weights @ self.tp, weights @ self.fp, weights @ self.fn
            numerator, denominator = {"mif1": (2 * tp, 2 * tp + fp + fn), "p": (tp, tp + fp), "r": (tp, tp + fn)}[metric]
            return _ratio(numerator, denominator)
        if metric == "acc":
            return _ratio(weights @ self.jaccard, total)
        if metric == "hamming":
            return _ratio(weights @ ((self.fp + self.fn) / self.n_labels), total)
        if metric == "subset_acc":
            return _ratio(weights @ self.exact, total)
        if metric == "single_acc":
            return _ratio(weights @ self.single, total)
        if metric in ("maf1", "wf1"):
            shape = (len(weights), self.tp_label.shape[1], self.n_labels)
            flat = lambda a: (weights @ a.reshape(self.n_samples, -1)).reshape(shape)  # noqa: E731
            tp, fp, fn = flat(self.tp_label), flat(self.fp_label), flat(self.fn_label)
            f1 = _ratio(2 * tp, 2 * tp + fp + fn)
            if metric == "maf1":
                return f1.mean(2)
            support = tp + fn
            return _ratio((f1 * support).sum(2), support.sum(2))
        raise ValueError(f"metric {metric!r} cannot be bootstrapped; choose from {', '.join(BOOTSTRAP_METRICS)}")

    def row_scores(self, weights: np.ndarray, metric: str, n_rows: int) -> np.ndarray:
        """(B, rows): each row's score is the mean over its seeds."""
        units = self.unit_scores(weights, metric)
        sums = np.zeros((len(weights), n_rows))
        np.add.at(sums.T, self.unit_row, units.T)
        return sums / np.bincount(self.unit_row, minlength=n_rows)


def _ratio(numerator, denominator):
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.broadcast_to(np.asarray(denominator, dtype=np.float64), numerator.shape)
    out = np.zeros(numerator.shape)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def resample_indices(n_samples: int, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> np.ndarray:
    """(n_resamples, n_samples) test-sample indices drawn with replacement; the same seed gives the same draws."""
    return np.random.default_rng(seed).integers(0, n_samples, size=(n_resamples, n_samples))


def _weights(indices: np.ndarray, n_samples: int) -> np.ndarray:
    """How often each resample drew each sample: (B, N) counts."""
    offsets = indices + np.arange(len(indices))[:, None] * n_samples
    return np.bincount(offsets.ravel(), minlength=len(indices) * n_samples).reshape(len(indices), n_samples).astype(
        np.float64)


def _check_paired(rows: list[RowSamples]) -> None:
    if not rows:
        raise ValueError("no rows to compare")
    reference = rows[0].y_true
    for row in rows[1:]:
        if row.y_true.shape != reference.shape or not np.array_equal(row.y_true, reference):
            raise ValueError(f"rows {rows[0].label!r} and {row.label!r} were not scored on the same test samples; "
                             "a paired comparison needs the same test split (same dataset fingerprint)")


def bootstrap_scores(rows: list[RowSamples], metric: str, indices: np.ndarray) -> np.ndarray:
    """(B, rows) scores of every row on every resample (rows share the indices)."""
    _check_paired(rows)
    pieces = _Pieces(rows)
    out = [pieces.row_scores(_weights(indices[start:start + _CHUNK], pieces.n_samples), metric, len(rows))
           for start in range(0, len(indices), _CHUNK)]
    return np.concatenate(out, axis=0) if out else np.zeros((0, len(rows)))


def observed_scores(rows: list[RowSamples], metric: str) -> np.ndarray:
    """Each row's score on the whole test split (mean over its seeds)."""
    _check_paired(rows)
    pieces = _Pieces(rows)
    return pieces.row_scores(np.ones((1, pieces.n_samples)), metric, len(rows))[0]


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (same order as given), capped at 1."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted


@dataclass
class Comparison:
    """Every row against the best row of one table, on one metric."""

    metric: str
    labels: list[str]
    best: str
    observed: dict[str, float]
    p_values: dict[str, float]  # raw bootstrap p-value of "row worse than the best" (best: absent)
    adjusted: dict[str, float]  # Holm-adjusted over the non-best rows
    not_worse: dict[str, bool]  # best, or not significantly worse at alpha
    intervals: dict[str, dict[str, tuple[float, float]]]  # row -> metric -> 95% percentile interval
    n_resamples: int
    seed: int
    alpha: float


def compare_to_best(rows: list[RowSamples], metric: str = "mif1", *, n_resamples: int = DEFAULT_RESAMPLES,
                    seed: int = 0, alpha: float = ALPHA, interval_metrics=(), indices: np.ndarray | None = None
                    ) -> Comparison:
    """Paired bootstrap of every row against the best one, Holm-corrected, with optional 95% intervals."""
    _check_paired(rows)
    if indices is None:
        indices = resample_indices(len(rows[0].y_true), n_resamples, seed)
    labels = [row.label for row in rows]
    observed = observed_scores(rows, metric)
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    best = int(np.argmax(sign * observed))
    scores = bootstrap_scores(rows, metric, indices)
    advantage = sign * (scores[:, [best]] - scores)  # > 0 where the best row stays ahead
    others = [i for i in range(len(rows)) if i != best]
    raw = {labels[i]: float(np.mean(advantage[:, i] <= 0)) for i in others}
    adjusted = dict(zip([labels[i] for i in others], holm([raw[labels[i]] for i in others]).tolist()))
    not_worse = {label: label == labels[best] or adjusted[label] >= alpha for label in labels}
    intervals: dict[str, dict] = {label: {} for label in labels}
    for name in dict.fromkeys([*interval_metrics]):
        table = scores if name == metric else bootstrap_scores(rows, name, indices)
        low, high = np.percentile(table, [2.5, 97.5], axis=0)
        for i, label in enumerate(labels):
            intervals[label][name] = (float(low[i]), float(high[i]))
    return Comparison(metric, labels, labels[best], dict(zip(labels, observed.tolist())), raw, adjusted,
                      not_worse, intervals, len(indices), seed, alpha)


def per_seed_tests(best: dict[int, float], other: dict[int, float]) -> dict:
    """Wilcoxon signed-rank and paired t-test on per-seed scores, paired by seed (for information only)."""
    from scipy import stats

    seeds = sorted(set(best) & set(other))
    result = {"n_seeds": len(seeds), "wilcoxon_p": None, "ttest_p": None, "note": ""}
    if len(seeds) < 2:
        result["note"] = "fewer than 2 shared seeds: no per-seed test"
        return result
    a = np.array([best[s] for s in seeds])
    b = np.array([other[s] for s in seeds])
    differences = a - b
    if np.allclose(differences, 0):
        result.update(wilcoxon_p=1.0, ttest_p=1.0, note="identical per-seed scores")
        return result
    result["wilcoxon_p"] = float(stats.wilcoxon(a, b).pvalue)
    t_p = stats.ttest_rel(a, b).pvalue
    result["ttest_p"] = None if math.isnan(t_p) else float(t_p)
    smallest = 2.0 / 2 ** len(seeds)
    if smallest >= ALPHA:
        result["note"] = (f"with {len(seeds)} seeds the two-sided Wilcoxon p-value cannot go below "
                          f"{smallest:.4g}; for information only")
    return result
