"""Fabricated results stores whose records follow the agreed job-record schema.

For tests and benchmarks of what reads a results store (leaderboards,
significance, ``mmerbench report``) without training anything: every job's
probabilities are drawn around its labels with a per-method strength, and
every derived field (scores, reliability data, robustness conditions,
per-label scores, per-epoch curves) is computed from them as a real job would
store it.
"""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

import numpy as np

from mmerbench.evaluation.metrics import score, threshold_predictions

MODALITIES = ("text", "audio", "vision")
COMBINATIONS = ("text+audio+vision", "text+audio", "text+vision", "audio+vision", "text", "audio", "vision")
MISSING_RATES = (0.1, 0.3, 0.5, 0.7)
NOISE_SCALES = (0.5, 1.0, 2.0)


def reliability_data(proba: np.ndarray, labels: np.ndarray, bins: int = 15) -> dict:
    """Pooled reliability-diagram data over all (sample, label) entries, as the schema stores it."""
    p, y = np.asarray(proba, dtype=float).ravel(), np.asarray(labels, dtype=float).ravel()
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.minimum((p * bins).astype(int), bins - 1)
    count = np.bincount(index, minlength=bins)
    confidence = np.bincount(index, weights=p, minlength=bins)
    frequency = np.bincount(index, weights=y, minlength=bins)
    return {"kind": "pooled", "edges": edges.tolist(), "count": count.tolist(),
            "confidence": [float(c / n) if n else None for c, n in zip(confidence, count)],
            "frequency": [float(f / n) if n else None for f, n in zip(frequency, count)]}


def _scores(labels, proba, threshold) -> dict:
    result = score(labels, threshold_predictions(proba, threshold))
    result.pop("per_label")
    return result


def _degraded(proba: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Probabilities mixed with uniform noise by ``amount`` in [0, 1]: what a lost or noisy modality looks like."""
    return (1.0 - amount) * proba + amount * rng.random(proba.shape)


def fake_job(method: str, dataset: str, seed: int, labels: np.ndarray, strength: float, *, label_names,
             deep: bool = False, robustness: bool = True, own_uncertainty: bool = False, threshold: float = 0.5
             ) -> tuple[dict, dict[str, np.ndarray]]:
    """One job record and its prediction arrays; ``strength`` sets how well the method separates labels."""
    rng = np.random.default_rng(zlib.crc32(f"{method}|{dataset}|{seed}".encode()))
    logits = (2 * labels.astype(float) - 1) * strength + rng.normal(size=labels.shape)
    proba = (1 / (1 + np.exp(-logits))).astype(np.float32)
    test = _scores(labels, proba, threshold)
    metrics = {"valid": dict(test), "test": test}
    if robustness:
        present = {m: 1.0 - 0.25 * (m != "text") for m in MODALITIES}  # text carries most in the fake story
        for combo in COMBINATIONS:
            kept = sum(present[m] for m in combo.split("+")) / sum(present.values())
            metrics[f"test@{combo}"] = _scores(labels, _degraded(proba, 1.0 - kept, rng), threshold)
        metrics["test@missing-mean"] = {k: float(np.mean([metrics[f"test@{c}"][k] for c in COMBINATIONS]))
                                        for k in test}
        for rate in MISSING_RATES:
            metrics[f"test@missing-rate={rate:g}"] = _scores(labels, _degraded(proba, 0.6 * rate, rng), threshold)
        for scale in NOISE_SCALES:
            for target, weight in (("audio", 0.1), ("all", 0.3)):
                noisy = _degraded(proba, min(0.9, weight * scale), rng)
                metrics[f"test@noise={scale:g}:{target}"] = _scores(labels, noisy, threshold)
    per_label = score(labels, threshold_predictions(proba, threshold), label_names=label_names)["per_label"]
    record = {
        # a key of the planner's form (20 hex digits): stores refuse any other
        "key": hashlib.sha256(f"{method}-{dataset}-s{seed}".encode()).hexdigest()[:20], "method": method, "method_version": _installed_version(method), "dataset": dataset,
        "dataset_fingerprint": f"fp-{dataset}", "dataset_params": {}, "seed": seed, "status": "ok", "preset": None,
        "overrides": {}, "threshold_policy": "valid", "threshold": threshold, "metrics": metrics,
        "per_label": {"test": per_label}, "label_names": list(label_names),
        "reliability": {"test": reliability_data(proba, labels)},
        "uncertainty_source": "own" if own_uncertainty else "entropy",
        "curve": [{"epoch": e, "train_loss": 1.0 / e + 0.1 * rng.random(), "valid_mif1": test["mif1"] * (1 - 0.5 / e),
                   "seconds": 1.0} for e in range(1, 9)] if deep else [],
        "condition_errors": {}, "versions": {}, "git_revision": None, "device": "cpu",
        "command": f"mmerbench run --methods {method} --datasets {dataset} --seeds {seed}",
        "finished_at": "2026-01-01T00:00:00+00:00",
    }
    arrays = {"valid_proba": proba, "valid_labels": labels.astype(np.uint8), "test_proba": proba,
              "test_labels": labels.astype(np.uint8)}
    if own_uncertainty:
        arrays["test_uncertainty"] = (0.5 - np.abs(proba - 0.5)).astype(np.float32)
    return record, arrays


def _installed_version(method: str) -> str:
    """The installed method's version (published pages show only those), "1" for a name no plugin has."""
    from mmerbench.plugins import get_registry

    spec = get_registry().methods.get(method)
    return str(spec.version) if spec is not None else "1"


def make_fake_store(directory, methods: dict[str, float], datasets=("synthetic",), seeds=(0, 1, 2), n_test: int = 300,
                    q: int = 6, deep=(), robustness: bool = True, own_uncertainty=()) -> list[dict]:
    """Write a results store with every method x dataset x seed; ``methods`` maps name -> strength."""
    from mmerbench.store.results import ResultStore

    label_names = ["happy", "sad", "anger", "surprise", "disgust", "fear"][:q] + [f"e{j}" for j in range(6, q)]
    records = []
    with ResultStore(Path(directory)) as store:
        for d, dataset in enumerate(datasets):
            labels = (np.random.default_rng(100 + d).random((n_test, q)) < 0.3).astype(np.uint8)
            for method, strength in methods.items():
                for seed in seeds:
                    record, arrays = fake_job(method, dataset, seed, labels, strength, label_names=label_names,
                                              deep=method in deep, robustness=robustness,
                                              own_uncertainty=method in own_uncertainty)
                    store.save_predictions(record["key"], arrays)
                    store.put(record)
                    records.append(record)
    return records
