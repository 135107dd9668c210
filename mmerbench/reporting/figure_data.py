"""Turn job records and stored predictions into the numbers each figure draws (no plotting here).

Everything is read from what a job stored (``record["reliability"]``,
``record["metrics"]["test@..."]``, ``record["per_label"]``, ``record["curve"]``,
``predictions/<key>.npz``), so a figure never refits or re-predicts anything.
Rows of several seeds are pooled: reliability counts are summed, curves and
scores averaged over seeds.
"""

from __future__ import annotations

import re
import statistics
from pathlib import Path

import numpy as np

PREDICTIONS_DIR = "predictions"  # as in mmerbench.store.results


# ------------------------------------------------------------------ reliability


def pooled_reliability(diagrams: list[dict]) -> dict | None:
    """Sum the bins of several seeds' reliability data (same edges); None when there is none."""
    diagrams = [d for d in diagrams if d and d.get("count")]
    if not diagrams:
        return None
    edges = diagrams[0]["edges"]
    for diagram in diagrams[1:]:
        if not np.allclose(diagram["edges"], edges):
            raise ValueError("reliability diagrams of one row have different bin edges")
    count = np.sum([np.asarray(d["count"], dtype=float) for d in diagrams], axis=0)

    def weighted(name):
        total = np.zeros(len(count))
        for d in diagrams:
            values = np.array([np.nan if v is None else v for v in d[name]], dtype=float)
            total += np.nan_to_num(values) * np.asarray(d["count"], dtype=float)
        return [float(t / c) if c > 0 else None for t, c in zip(total, count)]

    return {"kind": diagrams[0].get("kind", "pooled"), "edges": list(edges), "count": count.astype(int).tolist(),
            "confidence": weighted("confidence"), "frequency": weighted("frequency")}


# ------------------------------------------------------------------ risk-coverage


def load_predictions(results_dir, key: str) -> dict[str, np.ndarray]:
    path = Path(results_dir) / PREDICTIONS_DIR / f"{key}.npz"
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def risk_coverage(proba: np.ndarray, labels: np.ndarray, threshold, uncertainty: np.ndarray | None = None,
                  single_label: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(coverage, risk) on the grid k/N: each label's risk-coverage curve, averaged over labels.

    The same curve as the table's ``aurc`` (mmerbench.evaluation.uncertainty.risk_coverage_curve, ties
    at their expected risk), on the same errors (the job's threshold, as scored) and the same uncertainty (the
    method's own, else the entropy), so the mean of this risk is the table's AURC. Entries are never ranked
    across labels: uncertainty scales differ across labels.
    """
    from mmerbench.evaluation.metrics import threshold_predictions
    from mmerbench.evaluation.uncertainty import bernoulli_entropy, risk_coverage_curve

    proba = np.asarray(proba, dtype=np.float64)
    errors = threshold_predictions(proba, threshold, single_label).astype(bool) != np.asarray(labels).astype(bool)
    scores = bernoulli_entropy(proba) if uncertainty is None else np.asarray(uncertainty, dtype=np.float64)
    risks = [risk_coverage_curve(scores[:, j], errors[:, j])[1] for j in range(errors.shape[1])]
    return np.arange(1, len(errors) + 1) / len(errors), np.mean(risks, axis=0)


# ------------------------------------------------------------------ robustness conditions

_RATE = re.compile(r"^test@missing-rate=(?P<rate>[0-9.]+)$")
_NOISE = re.compile(r"^test@noise=(?P<scale>[0-9.]+):(?P<target>.+)$")


def condition_kind(name: str) -> tuple[str, object]:
    """('combination', 'text+audio') | ('missing-mean', None) | ('missing-rate', 0.3) | ('noise', (1.0, 'audio'))."""
    if name == "test@missing-mean":
        return "missing-mean", None
    if match := _RATE.match(name):
        return "missing-rate", float(match["rate"])
    if match := _NOISE.match(name):
        return "noise", (float(match["scale"]), match["target"])
    if name.startswith("test@") and "=" not in name and ":" not in name:  # not test@missing-modality:text
        return "combination", name[len("test@"):]
    return "other", name


def condition_scores(records_by_row: dict[str, list[dict]], metric: str = "mif1") -> dict[str, dict[str, float]]:
    """{condition: {row label: mean over seeds}} for every ``test@...`` entry, plus the plain ``test``."""
    out: dict[str, dict[str, float]] = {}
    for label, records in records_by_row.items():
        values: dict[str, list[float]] = {}
        for record in records:
            for split, scores in (record.get("metrics") or {}).items():
                if (split == "test" or split.startswith("test@")) and isinstance(scores, dict) and metric in scores:
                    values.setdefault(split, []).append(float(scores[metric]))
        for split, seen in values.items():
            out.setdefault(split, {})[label] = statistics.fmean(seen)
    return out


def combination_table(conditions: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """The modality-combination conditions (and their mean), most modalities first."""
    combos = {condition_kind(c)[1]: v for c, v in conditions.items() if condition_kind(c)[0] == "combination"}
    ordered = dict(sorted(combos.items(), key=lambda item: (-item[0].count("+"), item[0])))
    if "test@missing-mean" in conditions:
        ordered["mean"] = conditions["test@missing-mean"]
    return ordered


def condition_spread(records_by_row: dict[str, list[dict]], metric: str = "mif1"
                     ) -> dict[str, dict[str, float | None]]:
    """{condition: {row label: sample std over seeds (ddof=1), None for one seed}}, as condition_scores."""
    out: dict[str, dict[str, float | None]] = {}
    for label, records in records_by_row.items():
        values: dict[str, list[float]] = {}
        for record in records:
            for split, scores in (record.get("metrics") or {}).items():
                if (split == "test" or split.startswith("test@")) and isinstance(scores, dict) and metric in scores:
                    values.setdefault(split, []).append(float(scores[metric]))
        for split, seen in values.items():
            out.setdefault(split, {})[label] = statistics.stdev(seen) if len(seen) > 1 else None
    return out


def rate_curves(conditions: dict[str, dict[str, float]], spread: dict | None = None) -> dict[str, list[tuple]]:
    """{row: [(missing rate, score), ...]} starting at rate 0 (the plain test split); with ``spread``
    (:func:`condition_spread`) each point is (rate, mean, std over seeds)."""
    curves: dict[str, list] = {}
    for condition, values in conditions.items():
        kind, rate = condition_kind(condition)
        if kind == "missing-rate":
            for label, value in values.items():
                curves.setdefault(label, []).append(_point(rate, value, spread, condition, label))
    return _with_origin(curves, conditions, spread)


def noise_curves(conditions: dict[str, dict[str, float]], spread: dict | None = None
                 ) -> dict[str, dict[str, list[tuple]]]:
    """{target modality (or 'all'): {row: [(noise scale, score), ...]}} starting at scale 0 (with ``spread``:
    (scale, mean, std over seeds))."""
    by_target: dict[str, dict[str, list]] = {}
    for condition, values in conditions.items():
        kind, detail = condition_kind(condition)
        if kind == "noise":
            scale, target = detail
            for label, value in values.items():
                by_target.setdefault(target, {}).setdefault(label, []).append(
                    _point(scale, value, spread, condition, label))
    return {target: _with_origin(curves, conditions, spread) for target, curves in sorted(by_target.items())}


def _point(level: float, value: float, spread: dict | None, condition: str, label: str) -> tuple:
    if spread is None:
        return (level, value)
    return (level, value, (spread.get(condition) or {}).get(label))


def _with_origin(curves: dict[str, list], conditions: dict, spread: dict | None = None) -> dict[str, list]:
    plain = conditions.get("test", {})
    out = {}
    for label, points in curves.items():
        if label in plain:
            points = [_point(0.0, plain[label], spread, "test", label)] + points
        out[label] = sorted(points, key=lambda point: point[0])
    return out


def realised_dropped_share(dataset, seeds, condition_name: str, rate: float) -> float:
    """The share of the test split's present (sample, modality) entries that the missing-rate condition really
    drops, averaged over ``seeds``: below the nominal rate, because a sample always keeps one modality."""
    from mmerbench.data.conditions import ConditionBuilder, conditions, realised_missingness

    if rate <= 0:
        return 0.0  # nothing is drawn for dropping
    # The condition as the protocol builds it (its rates and pattern key), and the one share computation.
    (condition,) = conditions([f"missing-rate:{rate:g}"], list(dataset.modalities))
    if condition.name != condition_name:
        raise ValueError(f"{condition_name} is not the condition of missing-rate:{rate:g} ({condition.name})")
    shares = [realised_missingness(dataset.test.lengths, ConditionBuilder(dataset, seed).split(condition).lengths)
              for seed in seeds]
    return float(np.mean([share["dropped"] for share in shares]))


# ------------------------------------------------------------------ per label, training curves


def per_label_f1(records_by_row: dict[str, list[dict]]) -> dict[str, dict[str, float]]:
    """{row: {label: mean test F1 over seeds}}."""
    out = {}
    for row, records in records_by_row.items():
        values: dict[str, list[float]] = {}
        for record in records:
            for label, scores in ((record.get("per_label") or {}).get("test") or {}).items():
                if isinstance(scores, dict) and "f1" in scores:
                    values.setdefault(label, []).append(float(scores["f1"]))
        if values:
            out[row] = {label: statistics.fmean(v) for label, v in values.items()}
    return out


def training_curves(records_by_row: dict[str, list[dict]]) -> dict[str, list[list[dict]]]:
    """{row: [curve of seed 1, curve of seed 2, ...]} for rows that recorded per-epoch curves."""
    return {row: [r["curve"] for r in records if r.get("curve")] for row, records in records_by_row.items()
            if any(r.get("curve") for r in records)}
