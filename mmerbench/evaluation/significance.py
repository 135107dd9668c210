"""Is a difference between two leaderboard rows real? Bootstrap tests on stored test predictions.

Two tests, named for what they treat as random:

- ``seeds-and-samples`` (the default, the leaderboard's † mark): a two-level
  bootstrap. Each resample first draws, for every row on its own, as many of
  its seeds as it has, with replacement (a row's seeds are independent
  retrainings, and seed i of one method shares nothing with seed i of
  another, so rows are not paired on seeds); then it draws N test-sample
  indices with replacement, the same indices for every row (rows are paired
  on samples: how hard the drawn samples happen to be cancels in their
  difference). A row's score in a resample is the mean over its drawn seeds of
  the metric on the drawn samples. The spread of these scores holds both the
  variance of the test sample and the variance of retraining, as Bouthillier et
  al. recommend (X. Bouthillier et al., "Accounting for Variance in Machine
  Learning Benchmarks", MLSys 2021; the two-level scheme is the hierarchical
  bootstrap, e.g. Saravanan, Berman and Sober, "Application of the
  hierarchical bootstrap to multi-level data in neuroscience", NBDC 2020).
- ``fixed-models``: the same without the seed level (all seeds of a row
  pooled every time). It treats the trained models as fixed: it says whether a
  difference would survive another test sample, not another training run.

In both, the p-value of "row worse than the best" is the share of resamples in
which the best row's lead is <= 0 (a one-sided percentile bootstrap test); it
cannot be resolved below 1 / resamples, so a p of 0 is reported as
``< 1/B`` (:func:`format_p`). The rows' p-values are Holm-corrected together.
The best row is chosen after looking at the same data, which favours it
(a winner's-curse bias); the marks say "not shown worse than the row that
came out best here", not "as good as the true best".

Per-seed tests (Mann-Whitney U and Welch's t on the two rows' per-seed scores)
are unpaired, since seeds are not shared between methods; they are reported
for information only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

BOOTSTRAP_METRICS = ("acc", "p", "r", "mif1", "maf1", "hamming", "subset_acc", "single_acc", "wf1")
LOWER_IS_BETTER = frozenset({"hamming"})
DEFAULT_RESAMPLES = 1000
SEEDS_AND_SAMPLES = "seeds-and-samples"
FIXED_MODELS = "fixed-models"
TESTS = {
    SEEDS_AND_SAMPLES: "two-level bootstrap: each row's seeds resampled on their own, then test samples "
                       "resampled with indices shared by all rows (accounts for retraining and test-sample "
                       "variance; Bouthillier et al., MLSys 2021)",
    FIXED_MODELS: "paired bootstrap over test samples with each row's seeds pooled (the trained models held fixed: "
                  "ignores the variance of retraining)",
}
DEFAULT_TEST = SEEDS_AND_SAMPLES
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
        self.membership = np.zeros((self.n_units, len(rows)))  # 1 where a unit is one of a row's seeds
        unit = 0
        for r, row in enumerate(rows):
            self.to_rows[unit:unit + len(row.y_pred), r] = 1.0 / len(row.y_pred)
            self.membership[unit:unit + len(row.y_pred), r] = 1.0
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

    def row_scores(self, weights: np.ndarray, metrics, seed_weights: np.ndarray | None = None
                   ) -> dict[str, np.ndarray]:
        """{metric: (B, rows)} for (B, N) sample weights; a row's score is the mean over its seeds, or, with
        (B, units) ``seed_weights`` (each row's units summing to 1), the mean over its drawn seeds."""
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
        if seed_weights is None:
            return {metric: self._unit_scores(metric, sums, labels, total) @ self.to_rows for metric in metrics}
        return {metric: (self._unit_scores(metric, sums, labels, total) * seed_weights) @ self.membership
                for metric in metrics}

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


def resample_seeds(rows: list[RowSamples], n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> np.ndarray:
    """(n_resamples, units) weights: each row draws as many of its seeds as it has, with replacement and on its
    own (rows share no seed); a unit's weight is how often it was drawn over its row's number of seeds."""
    rng = np.random.default_rng([seed, 1])  # a stream apart from the test-sample indices of the same seed
    columns = []
    for row in rows:
        k = len(row.y_pred)
        drawn = rng.integers(0, k, size=(n_resamples, k))
        columns.append(np.stack([(drawn == i).sum(1) for i in range(k)], axis=1) / k)
    return np.concatenate(columns, axis=1)


def format_p(p: float | None, n_resamples: int | None = None) -> str:
    """A p-value for a table: ``< 0.001`` below what the resamples can resolve (1 / resamples), else 3 digits."""
    if p is None:
        return ""
    resolution = 1.0 / n_resamples if n_resamples else 0.0
    if n_resamples and p < resolution:
        return f"< {resolution:.3g}"
    if p < 0.001:
        return "< 0.001"
    return f"{p:.3f}"


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


def bootstrap_table(rows: list[RowSamples], metrics, indices: np.ndarray, seed_weights: np.ndarray | None = None
                    ) -> dict[str, np.ndarray]:
    """{metric: (B, rows)} scores of every row on every resample (rows share the indices); with
    ``seed_weights`` (:func:`resample_seeds`) each row's score is the mean over its drawn seeds."""
    _check_paired(rows)
    metrics = list(dict.fromkeys(metrics))
    pieces = _Pieces(rows, metrics)
    if seed_weights is not None and seed_weights.shape != (len(indices), pieces.n_units):
        raise ValueError(f"seed weights {seed_weights.shape} do not match {len(indices)} resamples of "
                         f"{pieces.n_units} (row, seed) units")
    chunks = [pieces.row_scores(_weights(indices[start:start + _CHUNK], pieces.n_samples), metrics,
                                None if seed_weights is None else seed_weights[start:start + _CHUNK])
              for start in range(0, len(indices), _CHUNK)]
    return {m: np.concatenate([c[m] for c in chunks], axis=0) if chunks else np.zeros((0, len(rows)))
            for m in metrics}


def bootstrap_scores(rows: list[RowSamples], metric: str, indices: np.ndarray,
                     seed_weights: np.ndarray | None = None) -> np.ndarray:
    """(B, rows) scores of every row on every resample of one metric."""
    return bootstrap_table(rows, [metric], indices, seed_weights)[metric]


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
    test: str = DEFAULT_TEST  # one of TESTS


def compare_to_best(rows: list[RowSamples], metric: str = "mif1", *, n_resamples: int = DEFAULT_RESAMPLES,
                    seed: int = 0, alpha: float = ALPHA, interval_metrics=(), indices: np.ndarray | None = None,
                    test: str = DEFAULT_TEST, seed_weights: np.ndarray | None = None) -> Comparison:
    """Bootstrap of every row against the best one (``test``: one of TESTS), Holm-corrected, with optional
    95% intervals from the same resamples."""
    if test not in TESTS:
        raise ValueError(f"significance test {test!r} is not one of {', '.join(TESTS)}")
    _check_paired(rows)
    if indices is None:
        indices = resample_indices(len(rows[0].y_true), n_resamples, seed)
    if test == SEEDS_AND_SAMPLES and seed_weights is None:
        seed_weights = resample_seeds(rows, len(indices), seed)
    if test == FIXED_MODELS:
        seed_weights = None
    labels = [row.label for row in rows]
    observed = observed_scores(rows, metric)
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    best = int(np.argmax(sign * observed))
    table = bootstrap_table(rows, [metric, *interval_metrics], indices, seed_weights)
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
                      not_worse, intervals, len(indices), seed, alpha, test)


def per_seed_tests(best, other) -> dict:
    """Mann-Whitney U and Welch's t-test (two-sided) between two rows' per-seed scores, for information only.

    Unpaired: seed i of one method and seed i of another are separate trainings that share nothing, so
    pairing them by seed number would invent a pairing. ``best`` and ``other`` are lists of scores (or
    {seed: score}, whose values are used).
    """
    from scipy import stats

    a = np.array(list(best.values()) if isinstance(best, dict) else list(best), dtype=float)
    b = np.array(list(other.values()) if isinstance(other, dict) else list(other), dtype=float)
    result = {"n_seeds": [len(a), len(b)], "mannwhitney_p": None, "welch_p": None, "note": ""}
    if len(a) < 2 or len(b) < 2:
        result["note"] = "fewer than 2 seeds on a side: no per-seed test"
        return result
    notes = []
    result["mannwhitney_p"] = float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        notes.append("no spread over seeds on either side: Welch's t is undefined")
    else:
        t_p = stats.ttest_ind(a, b, equal_var=False).pvalue
        result["welch_p"] = None if math.isnan(t_p) else float(t_p)
    smallest = 2.0 / math.comb(len(a) + len(b), len(a))
    if smallest >= ALPHA:
        notes.append(f"with {len(a)} and {len(b)} seeds the two-sided Mann-Whitney p-value cannot go below "
                     f"{smallest:.4g}")
    result["note"] = "; ".join(notes)
    return result
