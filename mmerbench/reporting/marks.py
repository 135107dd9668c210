"""Significance marks and bootstrap intervals on leaderboard rows, read from the stored test predictions.

A row's predictions are ``predictions/<key>.npz`` (``test_proba``,
``test_labels``) turned into {0, 1} with the job's own chosen threshold (a
float or one per label; argmax on single-label data), exactly as the job
scored them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmerbench.evaluation.significance import (
    ALPHA, BOOTSTRAP_METRICS, DEFAULT_RESAMPLES, DEFAULT_TEST, FIXED_MODELS, TESTS, RowSamples, compare_to_best,
    format_p, per_seed_tests,
)
from mmerbench.reporting.rows import data_groups
from mmerbench.evaluation.metrics import micro_f1, threshold_predictions

MARK = "†"
MARK_METRIC = "mif1"
PREDICTIONS_DIR = "predictions"  # as in mmerbench.store.results


def job_predictions(results_dir: str | Path, record: dict) -> tuple[np.ndarray, np.ndarray]:
    """(test labels, test {0, 1} predictions) of one stored job."""
    path = Path(results_dir) / PREDICTIONS_DIR / f"{record['key']}.npz"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing")
    with np.load(path, allow_pickle=False) as data:
        if "test_proba" not in data.files or "test_labels" not in data.files:
            raise ValueError(f"{path} has no test_proba/test_labels (it has {', '.join(data.files) or 'nothing'})")
        proba, labels = data["test_proba"], data["test_labels"]
    single_label = "single_acc" in (record.get("metrics", {}).get("test") or {})
    threshold = record.get("threshold")
    threshold = 0.5 if threshold is None else threshold
    return labels.astype(bool), threshold_predictions(proba, threshold, single_label).astype(bool)


def load_row_samples(rows, records: list[dict], results_dir) -> tuple[list[RowSamples], list[str]]:
    """One RowSamples per leaderboard row whose jobs all have predictions; notes say what was left out."""
    by_key = {record["key"]: record for record in records}
    samples, notes = [], []
    for row in rows:
        if row.reported or not getattr(row, "keys", None):
            continue
        labels, predictions, seeds = None, [], []
        try:
            for key in row.keys:
                record = by_key[key]
                y_true, y_pred = job_predictions(results_dir, record)
                stored = (record.get("metrics", {}).get("test") or {}).get(MARK_METRIC)
                if stored is not None and abs(micro_f1(y_true, y_pred) - stored) > 1e-6:
                    notes.append(f"{row.label} seed {record['seed']}: miF1 from the stored probabilities "
                                 f"({micro_f1(y_true, y_pred):.4f}) differs from the record's ({stored:.4f})")
                if labels is not None and not np.array_equal(labels, y_true):
                    raise ValueError("its seeds were scored on different test samples")
                labels = y_true
                predictions.append(y_pred)
                seeds.append(record["seed"])
        except (OSError, ValueError, KeyError) as exc:
            notes.append(f"{row.label}: no mark ({exc})")
            continue
        samples.append(RowSamples(row.label, labels, predictions, seeds))
    return samples, notes


def _paired_group(samples: list[RowSamples]) -> tuple[list[RowSamples], list[RowSamples]]:
    """The largest set of rows scored on the same test samples, and the rest."""
    groups: dict[bytes, list[RowSamples]] = {}
    for sample in samples:
        groups.setdefault(np.packbits(sample.y_true).tobytes() + str(sample.y_true.shape).encode(), []).append(sample)
    largest = max(groups.values(), key=len)
    return largest, [s for s in samples if s not in largest]


def annotate_rows(rows, records: list[dict], results_dir, *, ci: bool = False, metrics=(),
                  n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0, test: str = DEFAULT_TEST) -> list[str]:
    """Set ``mark``, ``ci`` and ``annotations`` on rows; return the footer lines that explain them.

    Rows on different versions of the data (mmerbench.reporting.rows.data_groups) are compared only within
    their own version: one comparison, one best row and one footer per version.
    """
    if test not in TESTS:
        raise ValueError(f"significance test {test!r} is not one of {', '.join(TESTS)}")
    groups = data_groups([row for row in rows if not row.reported])
    if len(groups) < 2:
        return _annotate_group(rows, records, results_dir, ci, metrics, n_resamples, seed, test)
    lines = []
    for group in groups:
        lines += [f"Data {group[0].data}: {line}"
                  for line in _annotate_group(group, records, results_dir, ci, metrics, n_resamples, seed, test)]
    return lines


def _annotate_group(rows, records, results_dir, ci, metrics, n_resamples, seed, test) -> list[str]:
    samples, notes = load_row_samples(rows, records, results_dir)
    if len(samples) < 1:
        return [f"No significance marks: {'; '.join(notes) or 'no stored predictions'}."] if notes else []
    paired, unpaired = _paired_group(samples)
    notes += [f"{s.label}: no mark (scored on other test samples than the other rows)" for s in unpaired]
    if len(paired) < 2:
        return notes  # one row has nothing to be compared with
    interval_metrics = [m for m in metrics if m in BOOTSTRAP_METRICS] if ci else []
    comparison = compare_to_best(paired, MARK_METRIC, n_resamples=n_resamples, seed=seed,
                                 interval_metrics=interval_metrics, test=test)
    by_label = {row.label: row for row in rows if not row.reported}
    per_seed = {row.label: _per_seed_scores(row, records) for row in by_label.values()}
    for label in comparison.labels:
        row = by_label[label]
        row.mark = MARK if comparison.not_worse[label] else ""
        row.ci = dict(comparison.intervals.get(label, {}))
        info = {"metric": MARK_METRIC, "best": comparison.best, "is_best": label == comparison.best,
                "not_significantly_worse": comparison.not_worse[label],
                "test": comparison.test,
                "bootstrap_p": comparison.p_values.get(label), "holm_p": comparison.adjusted.get(label),
                "p_resolution": 1.0 / comparison.n_resamples,
                "n_resamples": comparison.n_resamples, "bootstrap_seed": comparison.seed, "alpha": comparison.alpha}
        if label != comparison.best:
            info["per_seed"] = per_seed_tests(per_seed[comparison.best], per_seed[label])
        row.annotations["significance"] = info
    single_seed = [s.label for s in paired if len(s.y_pred) == 1]
    return footer_lines(comparison, len(paired[0].y_true), single_seed, ci, notes)


def _per_seed_scores(row, records: list[dict]) -> list[float]:
    by_key = {record["key"]: record for record in records}
    scores = []
    for key in row.keys:
        value = (by_key[key].get("metrics", {}).get("test") or {}).get(MARK_METRIC)
        if value is not None:
            scores.append(float(value))
    return scores


def _test_words(comparison, n_samples: int) -> str:
    """How the test of the marks resampled, in words."""
    if comparison.test == FIXED_MODELS:
        return (f"test `{FIXED_MODELS}`: paired bootstrap over the {n_samples} test samples "
                f"({comparison.n_resamples} resamples of sample indices shared by all rows, seed {comparison.seed}; "
                "seeds pooled: a row's score in a resample is the mean over all its seeds of miF1 on those samples). "
                "It holds the trained models fixed: it ignores the variance of retraining, so it speaks about "
                "these models, not about the method")
    return (f"test `{comparison.test}`: two-level bootstrap ({comparison.n_resamples} resamples, seed "
            f"{comparison.seed}): each resample draws every row's seeds with replacement, each row on its own, then "
            f"the {n_samples} test samples with replacement, the same samples for every row; a row's score is the "
            "mean over its drawn seeds of miF1 on those samples. It accounts for the variance of retraining and of "
            "the test sample (Bouthillier et al., \"Accounting for Variance in Machine Learning Benchmarks\", "
            "MLSys 2021)")


def footer_lines(comparison, n_samples: int, single_seed: list[str], ci: bool, notes: list[str]) -> list[str]:
    others = len(comparison.labels) - 1
    lines = [
        f"{MARK} best miF1 ({comparison.best}), or not significantly worse than it at α = {comparison.alpha:g}; "
        f"{_test_words(comparison, n_samples)}. p = share of resamples in which the best row's lead is ≤ 0 "
        f"(reported as {format_p(0.0, comparison.n_resamples)} when no resample has it), Holm-corrected over the "
        f"{others} other row(s). The best row is picked after seeing these same scores, which favours it: "
        f"{MARK} means \"not shown worse than the row that came out best here\". Unpaired per-seed tests "
        "(Mann-Whitney U, Welch's t) are in `--format json` and `mmerbench report`, for information only.",
    ]
    if ci:
        lines.append("[low, high]: 95% percentile bootstrap interval of the row's score (same resamples).")
    if len(single_seed) == len(comparison.labels):
        lines.append("Every row has one seed: the mark is per-sample only. It says whether the difference would "
                     "survive resampling the test samples, not whether it would survive retraining with another "
                     "seed.")
    elif single_seed:
        lines.append(f"Rows with one seed ({', '.join(single_seed)}): their mark is per-sample only (it says "
                     "nothing about retraining with another seed).")
    lines += notes
    return lines
