"""What a search trial of ``mmerbench tune`` does in its worker: fit, then score the validation split only.

A trial never predicts the test split: the search chooses among configurations on validation scores
alone, and a trial record has no test number that anything could select on (the leakage test,
``tests/core/tuning/test_no_test_leakage_in_tuning.py``). Its status is ``trial`` (``pruned`` when the
pruner stopped it), so the tables, which read ``ok`` records, never show it as a row.
"""

from __future__ import annotations

import time

from mmerbench.execution.checkpoints import attach_checkpoints
from mmerbench.execution.job_order import JobOrder

TRIAL_STATUS = "trial"
PRUNED_STATUS = "pruned"


def is_trial(job: dict) -> bool:
    return (job.get("tuning") or {}).get("role") == "trial"


def fit_and_score_trial(order: JobOrder, record: dict) -> None:
    """Load, fit and score on validation; fills ``record`` (status ``trial``)."""
    from mmerbench.api import method_class
    from mmerbench.evaluation.metrics import score
    from mmerbench.execution.job_dataset import load_job_dataset
    from mmerbench.execution.proba_check import check_probabilities

    job = order.job
    dataset = load_job_dataset(job)
    if dataset.valid is None:
        raise ValueError(f"dataset {job['dataset']!r} has no validation split, and a search trial is scored on "
                         "validation only: give it one (valid_fraction > 0)")
    method = method_class(job["method"])(**job["params"])
    checkpoints = attach_checkpoints(method, order.results_dir, job["key"])
    record["_checkpoints"] = checkpoints  # removed by the worker however the trial ends (pruned too)
    started = time.perf_counter()
    method.fit(dataset.train, dataset.valid)
    record["fit_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    proba = method.predict_proba(dataset.valid)
    check_probabilities(proba, len(dataset.valid), dataset.label_names, job["method"], "valid")
    predictions = method.predict(dataset.valid)
    scores = score(dataset.valid.labels, predictions, proba, single_label=dataset.single_label,
                   label_names=dataset.label_names)
    record["predict_seconds"] = time.perf_counter() - started
    per_label = scores.pop("per_label")
    fit_info = dict(getattr(method, "fit_info_", {}))
    record.update(
        status=TRIAL_STATUS,
        threshold=fit_info.get("threshold"),
        metrics={"valid": scores},
        per_label={"valid": per_label},
        curve=fit_info.pop("curve", []),
        fit_info=fit_info,
        device=fit_info.get("device", "cpu"),
        label_names=list(dataset.label_names),
        dataset_notes=list(dataset.notes),
    )
