"""Robustness protocols: a fitted method scored on each perturbed test split (no refit).

The specs, the one rule for an absent modality and the protocol version are
:mod:`mmerbench.data.protocol_specs`; the conditions, the rule's check and the
perturbed splits :mod:`mmerbench.data.conditions`. Each condition's scores (the
accuracy metrics of ``metrics["test"]``) go to ``record["metrics"]["test@<condition>"]``;
what the condition was (its protocol as written and, for a missingness
condition, the realised shares of complete samples, of samples with no
modality and of modalities dropped) to ``record["condition_info"]``; a
condition the method cannot take (the rule refuses it, or its prediction
fails) goes to ``record["condition_errors"]`` with the reason, and the other
conditions go on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from mmerbench.data.conditions import (  # noqa: F401 (re-exported)
    MISSINGNESS_KINDS, Condition, ConditionBuilder, conditions, mean_missingness, realised_missingness, refusal)
from mmerbench.data.protocol_specs import (  # noqa: F401 (re-exported)
    MISSING_MEAN, PROTOCOL_HELP, PROTOCOL_VERSION, ProtocolSpec, parse_protocol)
from mmerbench.evaluation.metrics import score, threshold_predictions


@dataclass
class ProtocolResult:
    metrics: dict[str, dict] = field(default_factory=dict)  # condition -> scores
    errors: dict[str, str] = field(default_factory=dict)  # condition -> why it has no scores
    info: dict[str, dict] = field(default_factory=dict)  # condition -> protocol as written, realised missingness
    seconds: float = 0.0
    prediction_passes: int = 0


def condition_info(condition: Condition, builder: ConditionBuilder, patterns=None) -> dict:
    """What ``condition`` was, for the record: its protocol as written, the rule's version and, for a
    missingness condition, the realised shares (:func:`~mmerbench.data.conditions.realised_missingness`,
    averaged over its drop patterns). Needs no model: the same for every method of the same seed."""
    info = {"protocol": condition.protocol, "protocol_version": PROTOCOL_VERSION}
    if condition.kind not in MISSINGNESS_KINDS or condition.unknown:
        return info
    before = builder.dataset.test.lengths
    patterns = range(condition.pattern_seeds) if patterns is None else patterns
    shares = [realised_missingness(before, builder.split(condition, p).lengths) for p in patterns]
    info.update(mean_missingness(shares), pattern_seeds=condition.pattern_seeds)
    return info


def _score(method, dataset, split, threshold, single_label) -> dict:
    proba = method.predict_proba(split)
    if not np.isfinite(proba).all():
        raise ValueError(f"{int((~np.isfinite(proba)).sum())} probabilities are NaN or infinite")
    return _scores_of(dataset, proba, threshold, single_label)


def _scores_of(dataset, proba, threshold, single_label) -> dict:
    predictions = threshold_predictions(proba, threshold, single_label)
    scores = score(dataset.test.labels, predictions, proba, single_label=single_label)
    scores.pop("per_label")
    return scores


def _numeric(scores: dict) -> list[str]:
    return [k for k, v in scores.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]


def evaluate_conditions(method, dataset, protocols, seed: int, *, test_proba=None) -> ProtocolResult:
    """Score a fitted ``method`` on every condition of ``protocols`` (no refit).

    ``test_proba`` (the plain test probabilities, when already computed) is
    reused for the combination with every modality present, which is the plain
    test split itself. A condition of ``@seeds=K`` is scored on each of its K
    drop patterns and the scores averaged (their spread over patterns goes to
    its ``condition_info`` as ``pattern_std``).
    """
    result = ProtocolResult()
    if not protocols:
        return result
    started = time.perf_counter()
    modalities = list(dataset.modalities)
    builder = ConditionBuilder(dataset, seed)
    threshold = method.threshold_
    single_label = bool(getattr(method, "single_label_", dataset.single_label))
    required = tuple(getattr(method, "requires", {}).get("modalities", ()))
    who = method.name or type(method).__name__
    every = conditions(protocols, modalities)  # specs were parsed once per run; conditions are built once per job
    for condition in every:
        result.info[condition.name] = condition_info(condition, builder)
        if condition.unknown:
            result.errors[condition.name] = (
                f"{condition.protocol!r} names modality {', '.join(condition.unknown)}, which dataset "
                f"{dataset.name} does not have (it has {', '.join(modalities)})")
            continue
        refused = refusal(condition, required, modalities, who)  # the one rule, for every protocol alike
        if refused:
            result.errors[condition.name] = refused
            continue
        try:
            if condition.kind == "present" and len(condition.present) == len(modalities) and test_proba is not None:
                proba = np.asarray(test_proba, dtype=np.float64)  # nothing removed: the plain test split
                result.metrics[condition.name] = _scores_of(dataset, proba, threshold, single_label)
                continue
            per_pattern = []
            for pattern in range(condition.pattern_seeds):
                per_pattern.append(_score(method, dataset, builder.split(condition, pattern), threshold, single_label))
                result.prediction_passes += 1
            keys = _numeric(per_pattern[0])
            result.metrics[condition.name] = (per_pattern[0] if len(per_pattern) == 1 else
                                              {k: float(np.mean([s[k] for s in per_pattern])) for k in keys})
            if len(per_pattern) > 1:
                result.info[condition.name]["pattern_std"] = {
                    k: float(np.std([s[k] for s in per_pattern], ddof=1)) for k in keys}
        except Exception as exc:  # noqa: BLE001 - one condition failing must not stop the others
            result.errors[condition.name] = f"{type(exc).__name__}: {exc}"
    combos = [c.name for c in every if c.kind == "present"]
    if combos:
        failed = [name for name in combos if name not in result.metrics]
        if failed:
            result.errors[MISSING_MEAN] = f"not computed: {len(failed)} of {len(combos)} combinations have no scores"
        else:
            keys = _numeric(result.metrics[combos[0]])
            result.metrics[MISSING_MEAN] = {k: float(np.mean([result.metrics[c][k] for c in combos])) for k in keys}
    result.seconds = time.perf_counter() - started
    return result
