"""Robustness protocols: a fitted method scored on each perturbed test split (no refit).

The specs and the perturbed splits are :mod:`mmerbench.data.protocol_specs`.
Each condition's scores (the accuracy metrics of ``metrics["test"]``) go to
``record["metrics"]["test@<condition>"]``; a condition the method cannot take
(a modality it requires is absent, or its prediction fails) goes to
``record["condition_errors"]`` with the reason, and the other conditions go on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from mmerbench.data.conditions import Condition, ConditionBuilder, conditions  # noqa: F401 (re-exported)
from mmerbench.data.protocol_specs import MISSING_MEAN, PROTOCOL_HELP, ProtocolSpec, parse_protocol  # noqa: F401
from mmerbench.evaluation.metrics import score, threshold_predictions


@dataclass
class ProtocolResult:
    metrics: dict[str, dict] = field(default_factory=dict)  # condition -> scores
    errors: dict[str, str] = field(default_factory=dict)  # condition -> why it has no scores
    seconds: float = 0.0
    prediction_passes: int = 0


def _absent_required(method, condition: Condition, modalities) -> list[str]:
    required = tuple(getattr(method, "requires", {}).get("modalities", ()))
    if condition.kind == "present":
        return [m for m in required if m not in condition.present]
    return []


def evaluate_conditions(method, dataset, protocols, seed: int, *, test_proba=None) -> ProtocolResult:
    """Score a fitted ``method`` on every condition of ``protocols`` (no refit).

    ``test_proba`` (the plain test probabilities, when already computed) is
    reused for the combination with every modality present, which is the plain
    test split itself.
    """
    result = ProtocolResult()
    if not protocols:
        return result
    started = time.perf_counter()
    modalities = list(dataset.modalities)
    builder = ConditionBuilder(dataset, seed)
    threshold = method.threshold_
    single_label = bool(getattr(method, "single_label_", dataset.single_label))
    every = conditions(protocols, modalities)  # specs were parsed once per run; conditions are built once per job
    for condition in every:
        absent = _absent_required(method, condition, modalities)
        if absent:
            result.errors[condition.name] = (
                f"{method.name or type(method).__name__} requires modality {', '.join(absent)}, "
                f"which {condition.name} removes")
            continue
        try:
            if condition.kind == "present" and len(condition.present) == len(modalities) and test_proba is not None:
                proba = np.asarray(test_proba, dtype=np.float64)  # nothing removed: the plain test split
            else:
                proba = method.predict_proba(builder.split(condition))
                result.prediction_passes += 1
            if not np.isfinite(proba).all():
                raise ValueError(f"{int((~np.isfinite(proba)).sum())} probabilities are NaN or infinite")
            predictions = threshold_predictions(proba, threshold, single_label)
            scores = score(dataset.test.labels, predictions, proba, single_label=single_label)
            scores.pop("per_label")
            result.metrics[condition.name] = scores
        except Exception as exc:  # noqa: BLE001 - one condition failing must not stop the others
            result.errors[condition.name] = f"{type(exc).__name__}: {exc}"
    combos = [c.name for c in every if c.kind == "present"]
    if combos:
        failed = [name for name in combos if name not in result.metrics]
        if failed:
            result.errors[MISSING_MEAN] = f"not computed: {len(failed)} of {len(combos)} combinations have no scores"
        else:
            keys = [k for k, v in result.metrics[combos[0]].items() if isinstance(v, (int, float))]
            result.metrics[MISSING_MEAN] = {k: float(np.mean([result.metrics[c][k] for c in combos])) for k in keys}
    result.seconds = time.perf_counter() - started
    return result
