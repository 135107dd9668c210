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
    """Per-sample pieces of every score, for all (row, seed) units, as columns of one matrix.

    A score over a resample is a ratio of weighted sums of these columns, the
    weight of a sample being how often the resample drew it; so one matrix
    product per chunk of resamples gives every metric of every unit at once.
    """

    COUNT_PARTS = ("tp", "fp", "fn", "exact", "single")  # integers per sample
    PARTS_OF = {"mif1": ("tp", "fp", "fn"), "p": ("tp", "fp", "fn"), "r": ("tp", "fp", "fn"),
                "hamming": ("tp", "fp", "fn"), "acc": ("jaccard",), "subset_acc": ("exact",),
                "single_acc": ("single",), "maf1": (), "wf1": ()}
    LABEL_PARTS = ("tp", "fp", "fn")

    def __init__(self, rows: list[RowSamples], metrics):
        unknown = [m for m in metrics if m not in self.PARTS_OF]
        if unknown:
            raise ValueError(f"metric(s) {unknown} cannot be bootstrapped; choose from {', '.join(BOOTSTRAP_METRICS)}")
        y_true = rows[0].y_true
        self.n_samples, self.n_labels = y_true.shape
        predictions = [pred for row in rows for pred in row.y_pred]
        self.n_units = len(predictions)
        # each unit's score is averaged into its row: (units, rows) with 1 / n_seeds entries
        self.to_rows = np.zeros((self.n_units, len(rows)))
        unit = 0
        for r, row in enumerate(rows):
            self.to_rows[unit:unit + len(row.y_pred), r] = 1.0 / len(row.y_pred)
            unit += len(row.y_pred)
        needed = {part for m in metrics for part in self.PARTS_OF[m]}
        tp = np.stack([y_true & p for p in predictions], axis=1)  # (N, units, q)
        fp = np.stack([~y_true & p for p in predictions], axis=1)
        fn = np.stack([y_true & ~p for p in predictions], axis=1)
        builders = {"tp": lambda: tp.sum(2), "fp": lambda: fp.sum(2), "fn": lambda: fn.sum(2),
                    "exact": lambda: np.stack([(y_true == p).all(1) for p in predictions], axis=1),
                    "single": lambda: np.stack([y_true.argmax(1) == p.argmax(1) for p in predictions], axis=1)}
        self.count_parts = [part for part in self.COUNT_PARTS if part in needed]
        # counts in float32: exact below 2**24, and the matrix product (the main cost) runs twice as fast
        self.count_columns = (np.concatenate([builders[part]() for part in self.count_parts], axis=1)
                              .astype(np.float32) if self.count_parts else None)
        self.jaccard = None
        if "jaccard" in needed:  # fractions: float64 so that sums stay exact enough
            union = np.stack([(y_true | p).sum(1) for p in predictions], axis=1)
            self.jaccard = np.divide(tp.sum(2), union, out=np.zeros(union.shape), where=union > 0)
        self.label_columns = (np.concatenate([tp, fp, fn], axis=1).reshape(self.n_samples, -1).astype(np.float32)
                              if any(m in ("maf1", "wf1") for m in metrics) else None)

    def row_scores(self, weights: np.ndarray, metrics) -> dict[str, np.ndarray]:
        """{metric: (B, rows)} for (B, N) sample weights; a row's score is the mean over its seeds."""
        b, u, q = len(weights), self.n_units, self.n_labels
        weights32 = weights.astype(np.float32)
        sums = {}
        if self.count_columns is not None:
            counts = (weights32 @ self.count_columns).astype(np.float64).reshape(b, len(self.count_parts), u)
            sums = dict(zip(self.count_parts, counts.transpose(1, 0, 2)))
        if self.jaccard is not None:
            sums["jaccard"] = weights @ self.jaccard
        total = weights.sum(1, keepdims=True)
        labels = None
        if self.label_columns is not None:
            counts = (weights32 @ self.label_columns).astype(np.float64).reshape(b, 3, u, q)
            labels = dict(zip(self.LABEL_PARTS, counts.transpose(1, 0, 2, 3)))
        return {metric: self._unit_scores(metric, sums, labels, total) @ self.to_rows for metric in metrics}

    def _unit_scores(self, metric: str, sums: dict, labels: dict | None, total: np.ndarray) -> np.ndarray:
        tp, fp, fn = sums.get("tp"), sums.get("fp"), sums.get("fn")
        if metric == "mif1":
            return _ratio(2 * tp, 2 * tp + fp + fn)
        if metric == "p":
            return _ratio(tp, tp + fp)
        if metric == "r":
            return _ratio(tp, tp + fn)
        if metric == "acc":
            return _ratio(sums["jaccard"], total)
        if metric == "hamming":
            return _ratio((fp + fn) / self.n_labels, total)
        if metric == "subset_acc":
            return _ratio(sums["exact"], total)
        if metric == "single_acc":
            return _ratio(sums["single"], total)
        if metric in ("maf1", "wf1"):
            f1 = _ratio(2 * labels["tp"], 2 * labels["tp"] + labels["fp"] + labels["fn"])
            if metric == "maf1":
                return f1.mean(2)
            support = labels["tp"] + labels["fn"]
            return _ratio((f1 * support).sum(2), support.sum(2))
        raise ValueError(f"metric {metric!r} cannot be bootstrapped; choose from {', '.join(BOOTSTRAP_METRICS)}")


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


def bootstrap_table(rows: list[RowSamples], metrics, indices: np.ndarray) -> dict[str, np.ndarray]:
    """{metric: (B, rows)} scores of every row on every resample (rows share the indices)."""
    _check_paired(rows)
    metrics = list(dict.fromkeys(metrics))
    pieces = _Pieces(rows, metrics)
    chunks = [pieces.row_scores(_weights(indices[start:start + _CHUNK], pieces.n_samples), metrics)
              for start in range(0, len(indices), _CHUNK)]
    return {m: np.concatenate([c[m] for c in chunks], axis=0) if chunks else np.zeros((0, len(rows)))
            for m in metrics}


def bootstrap_scores(rows: list[RowSamples], metric: str, indices: np.ndarray) -> np.ndarray:
    """(B, rows) scores of every row on every resample of one metric."""
    return bootstrap_table(rows, [metric], indices)[metric]


def observed_scores(rows: list[RowSamples], metric: str) -> np.ndarray:
    """Each row's score on the whole test split (mean over its seeds)."""
    _check_paired(rows)
    pieces = _Pieces(rows, [metric])
    return pieces.row_scores(np.ones((1, pieces.n_samples)), [metric])[metric][0]


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
    table = bootstrap_table(rows, [metric, *interval_metrics], indices)
    scores = table[metric]
    advantage = sign * (scores[:, [best]] - scores)  # > 0 where the best row stays ahead
    others = [i for i in range(len(rows)) if i != best]
    raw = {labels[i]: float(np.mean(advantage[:, i] <= 0)) for i in others}
    adjusted = dict(zip([labels[i] for i in others], holm([raw[labels[i]] for i in others]).tolist()))
    not_worse = {label: label == labels[best] or adjusted[label] >= alpha for label in labels}
    intervals: dict[str, dict] = {label: {} for label in labels}
    for name in dict.fromkeys(interval_metrics):
        low, high = np.percentile(table[name], [2.5, 97.5], axis=0)
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
    notes = []
    if np.allclose(differences, differences[0]):
        notes.append("the same difference on every seed: the t statistic is undefined")
    else:
        t_p = stats.ttest_rel(a, b).pvalue
        result["ttest_p"] = None if math.isnan(t_p) else float(t_p)
    smallest = 2.0 / 2 ** len(seeds)
    if smallest >= ALPHA:
        notes.append(f"with {len(seeds)} seeds the two-sided Wilcoxon p-value cannot go below {smallest:.4g}; "
                     "for information only")
    result["note"] = "; ".join(notes)
    return result
