"""A job's calibration and uncertainty scores, from its valid/test probabilities (no refit).

The worker calls :func:`beyond_accuracy` right after predicting; ``mmerbench
evaluate`` calls it on the probabilities stored in ``predictions/<key>.npz``.
Keys follow the record schema agreed for issue 10: per split ``ece``,
``ece_label``, ``brier``, ``nll``, ``unc_auroc``, ``aurc`` (the method's own
uncertainty when it has one, with ``unc_auroc_entropy`` / ``aurc_entropy`` for
the entropy baseline), ``noise_spearman`` (+ ``_entropy``) on data with true
noise; ``record["reliability"][split]`` and ``record["uncertainty_source"]``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np

from mmerbench.evaluation.calibration import calibration_scores, reliability
from mmerbench.evaluation.uncertainty import (
    bernoulli_entropy,
    noise_spearman,
    noise_spearman_per_modality,
    per_label_error_detection,
)
from mmerbench.evaluation.metrics import threshold_predictions


@dataclass
class SplitOutputs:
    """What one split contributes: probabilities, labels, and optional uncertainty and true noise."""

    proba: np.ndarray  # (N, q)
    labels: np.ndarray  # (N, q) in {0, 1}
    uncertainty: np.ndarray | None = None  # (N, q): the method's own
    uncertainty_per_modality: np.ndarray | None = None  # (N, q, M): the method's own, per modality
    noise: np.ndarray | None = None  # (N, M): meta["noise"] of synthetic data


def own_uncertainty(method, split) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The method's ``predict_uncertainty(split)`` (N, q), and (N, q, M) when it offers
    ``per_modality=True``; (None, None) for a method without its own uncertainty."""
    predict = getattr(method, "predict_uncertainty", None)
    if not callable(predict):
        return None, None
    overall = np.asarray(predict(split), dtype=np.float64)
    per_modality = None
    try:
        accepts = "per_modality" in inspect.signature(predict).parameters
    except (TypeError, ValueError):
        accepts = False
    if accepts:
        per_modality = np.asarray(predict(split, per_modality=True), dtype=np.float64)
    return overall, per_modality


def beyond_accuracy(outputs: dict[str, SplitOutputs], threshold, *, single_label: bool = False,
                    modalities=()) -> dict:
    """``{"metrics": {split: {...}}, "reliability": {split: {...}}, "uncertainty_source": ...}``."""
    has_own = all(o.uncertainty is not None for o in outputs.values()) and bool(outputs)
    entropies = {name: bernoulli_entropy(o.proba) for name, o in outputs.items()}
    reference_split = "valid" if "valid" in outputs else None
    metrics, diagrams = {}, {}
    for name, out in outputs.items():
        proba = np.asarray(out.proba, dtype=np.float64)
        labels = np.asarray(out.labels)
        errors = threshold_predictions(proba, threshold, single_label).astype(bool) != labels.astype(bool)
        scores = calibration_scores(proba, labels, single_label=single_label)
        diagrams[name] = reliability(proba, labels, single_label=single_label)
        # Quantiles come from the validation split (never from test); without one, from the split itself.
        reference = reference_split or name
        entropy_scores = per_label_error_detection(entropies[name], errors)
        if has_own:
            scores.update(per_label_error_detection(out.uncertainty, errors))
            scores["unc_auroc_entropy"] = entropy_scores["unc_auroc"]
            scores["aurc_entropy"] = entropy_scores["aurc"]
        else:
            scores.update(entropy_scores)
        if out.noise is not None:
            entropy_rho = noise_spearman(entropies[name], entropies[reference], out.noise)
            if has_own:
                scores["noise_spearman"] = noise_spearman(out.uncertainty, outputs[reference].uncertainty, out.noise)
                scores["noise_spearman_entropy"] = entropy_rho
            else:
                scores["noise_spearman"] = entropy_rho
            per_modality = out.uncertainty_per_modality
            reference_per_modality = outputs[reference].uncertainty_per_modality
            if per_modality is not None and reference_per_modality is not None and per_modality.ndim == 3:
                scores.update(noise_spearman_per_modality(per_modality, reference_per_modality, out.noise,
                                                          list(modalities)))
        metrics[name] = scores
    return {"metrics": metrics, "reliability": diagrams, "uncertainty_source": "own" if has_own else "entropy"}


def split_outputs(split, proba, uncertainty=None, per_modality=None) -> SplitOutputs:
    noise = split.meta.get("noise") if getattr(split, "meta", None) else None
    return SplitOutputs(proba=np.asarray(proba), labels=np.asarray(split.labels), uncertainty=uncertainty,
                        uncertainty_per_modality=per_modality,
                        noise=None if noise is None else np.asarray(noise, dtype=np.float64))
