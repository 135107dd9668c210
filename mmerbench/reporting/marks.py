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
    ALPHA, BOOTSTRAP_METRICS, DEFAULT_RESAMPLES, RowSamples, compare_to_best, per_seed_tests,
)
from mmerbench.evaluation.metrics import micro_f1, threshold_predictions

MARK = "†"
MARK_METRIC = "mif1"
PREDICTIONS_DIR = "predictions"  # as in mmerbench.store.results


def job_predictions(results_dir: str | Path, record: dict) -> tuple[np.ndarray, np.ndarray]:
    """(test labels, test {0, 1} predictions) of one stored job."""
    from mmerbench.names import check_key, contained

    path = contained(Path(results_dir) / PREDICTIONS_DIR, f"{check_key(record['key'], 'predictions file')}.npz")
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
                  n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> list[str]:
    """Set ``mark``, ``ci`` and ``annotations`` on rows; return the footer lines that explain them."""
    samples, notes = load_row_samples(rows, records, results_dir)
    if len(samples) < 1:
        return [f"No significance marks: {'; '.join(notes) or 'no stored predictions'}."] if notes else []
    paired, unpaired = _paired_group(samples)
    notes += [f"{s.label}: no mark (scored on other test samples than the other rows)" for s in unpaired]
    if len(paired) < 2:
        return notes  # one row has nothing to be compared with
    interval_metrics = [m for m in metrics if m in BOOTSTRAP_METRICS] if ci else []
    comparison = compare_to_best(paired, MARK_METRIC, n_resamples=n_resamples, seed=seed,
                                 interval_metrics=interval_metrics)
    by_label = {row.label: row for row in rows if not row.reported}
    per_seed = {row.label: _per_seed_scores(row, records) for row in by_label.values()}
    for label in comparison.labels:
        row = by_label[label]
        row.mark = MARK if comparison.not_worse[label] else ""
        row.ci = dict(comparison.intervals.get(label, {}))
        info = {"metric": MARK_METRIC, "best": comparison.best, "is_best": label == comparison.best,
                "not_significantly_worse": comparison.not_worse[label],
                "bootstrap_p": comparison.p_values.get(label), "holm_p": comparison.adjusted.get(label),
                "n_resamples": comparison.n_resamples, "bootstrap_seed": comparison.seed, "alpha": comparison.alpha}
        if label != comparison.best:
            info["per_seed"] = per_seed_tests(per_seed[comparison.best], per_seed[label])
        row.annotations["significance"] = info
    single_seed = [s.label for s in paired if len(s.y_pred) == 1]
    return footer_lines(comparison, len(paired[0].y_true), single_seed, ci, notes)


def _per_seed_scores(row, records: list[dict]) -> dict[int, float]:
    by_key = {record["key"]: record for record in records}
    scores = {}
    for key in row.keys:
        value = (by_key[key].get("metrics", {}).get("test") or {}).get(MARK_METRIC)
        if value is not None:
            scores[by_key[key]["seed"]] = float(value)
    return scores


def footer_lines(comparison, n_samples: int, single_seed: list[str], ci: bool, notes: list[str]) -> list[str]:
    others = len(comparison.labels) - 1
    lines = [
        f"{MARK} best miF1 ({comparison.best}), or not significantly worse than it at α = {comparison.alpha:g}: "
        f"paired bootstrap over the {n_samples} test samples ({comparison.n_resamples} resamples of sample "
        "indices shared by all rows, seed "
        f"{comparison.seed}; seeds pooled: a row's score in a resample is the mean over its seeds of miF1 on "
        "those samples); p = share of resamples in which the best row's lead is ≤ 0, Holm-corrected over the "
        f"{others} other row(s). Per-seed Wilcoxon and paired t-tests are in `--format json` and "
        "`mmerbench report`, for information only.",
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
