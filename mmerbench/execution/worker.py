"""What one job does, inside its own fresh worker process."""

from __future__ import annotations

import os
import resource
import sys
import time
import traceback
from datetime import datetime, timezone

from mmerbench import progress
from mmerbench.execution.checkpoints import attach_checkpoints
from mmerbench.execution.job_models import save_model_for_record
from mmerbench.execution.job_order import JobOrder
from mmerbench.store.results import ResultStore


def peak_rss_mb() -> float:
    """Peak resident memory of this process (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


_progress_queue = None


def init_worker(progress_queue) -> None:
    """Pool initializer: remember the queue on which this worker reports progress."""
    global _progress_queue
    _progress_queue = progress_queue


def _configure_threads(threads: int) -> None:
    # Set before torch / BLAS are imported (they read these at start-up); a
    # worker that imports torch for nothing would pay a second for it.
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    if "numpy" in sys.modules:  # BLAS was loaded before the variables above (a job forked from a warm server)
        try:
            from threadpoolctl import threadpool_limits

            threadpool_limits(threads)
        except ImportError:  # scikit-learn brings threadpoolctl; without it BLAS keeps its own count
            pass


def _forward_progress(queue, job_label: str):
    def listener(event: dict) -> None:
        try:
            queue.put({"job": job_label, **event})
        except Exception:  # progress must never break a job
            pass

    return listener


def _base_record(order: JobOrder) -> dict:
    job = order.job
    return {
        **{k: job[k] for k in ("key", "method", "method_version", "dataset", "dataset_fingerprint", "dataset_params",
                               "seed", "params", "preset", "overrides", "threshold_policy", "command", "notes")},
        "run_options": dict(job.get("run_options") or {}),
        "dataset_file_fingerprint": job.get("dataset_file_fingerprint", ""),
        "valid_seed": job.get("valid_seed"),
        "status": "failed",
        "error": None,
        "threshold": None,
        "metrics": {},
        "per_label": {},
        "curve": [],
        "fit_info": {},
        "fit_seconds": None,
        "predict_seconds": None,
        "device": order.device,
        "threads": order.threads,
        "started_at": _now(),
        **order.provenance,
        "protocols": [spec.text for spec in order.protocols],
    }


def _predict_and_score(method, dataset, job: dict) -> tuple[dict, dict, dict, dict]:
    """Probabilities, predictions and accuracy scores on valid and test: (arrays, metrics, per_label, outputs)."""
    from mmerbench.evaluation.job_scores import own_uncertainty, split_outputs
    from mmerbench.evaluation.metrics import score
    from mmerbench.execution.proba_check import check_probabilities

    arrays, metrics, per_label = {}, {}, {}
    outputs = {}  # split -> probabilities, labels, uncertainty, true noise: for the scores beyond accuracy
    for split_name, split in (("valid", dataset.valid), ("test", dataset.test)):
        if split is None:
            continue
        proba = method.predict_proba(split)
        check_probabilities(proba, len(split), dataset.label_names, job["method"], split_name)
        predictions = method.predict(split)
        scores = score(split.labels, predictions, proba, single_label=dataset.single_label,
                       label_names=dataset.label_names)
        per_label[split_name] = scores.pop("per_label")
        metrics[split_name] = scores
        arrays[f"{split_name}_proba"] = proba.astype("float32")
        arrays[f"{split_name}_labels"] = split.labels
        own, own_per_modality = own_uncertainty(method, split)
        if own is not None:
            arrays[f"{split_name}_uncertainty"] = own.astype("float32")
        outputs[split_name] = split_outputs(split, proba, own, own_per_modality)
    return arrays, metrics, per_label, outputs


def _collapse_warnings(method, dataset, arrays: dict) -> list[str]:
    """A deep job whose test predictions are one constant label set learned no more than the prior."""
    from mmerbench.evaluation.metrics import threshold_predictions
    from mmerbench.execution.collapse import collapse_warning

    test_predictions = threshold_predictions(arrays["test_proba"], method.threshold_, dataset.single_label)
    warning = collapse_warning(test_predictions, dataset.label_names)
    return [warning] if warning else []


def _fit_and_evaluate(order: JobOrder, record: dict) -> None:
    """Load, fit, predict, score (accuracy, beyond accuracy, robustness) and save; fills ``record``."""
    from mmerbench.api import method_class
    from mmerbench.evaluation.job_scores import beyond_accuracy
    from mmerbench.execution.job_dataset import load_job_dataset
    from mmerbench.execution.protocols import evaluate_conditions

    job = order.job
    dataset = load_job_dataset(job)
    method = method_class(job["method"])(**job["params"])
    if job.get("run_options"):  # planned only for a method that honours them (TorchMethod.set_run_options)
        method.set_run_options(**job["run_options"])
    checkpoints = attach_checkpoints(method, order.results_dir, job["key"])
    started = time.perf_counter()
    method.fit(dataset.train, dataset.valid)
    record["fit_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    arrays, metrics, per_label, outputs = _predict_and_score(method, dataset, job)
    record["predict_seconds"] = time.perf_counter() - started
    extra = beyond_accuracy(outputs, method.threshold_, single_label=dataset.single_label,
                            modalities=list(dataset.modalities))
    for split_name, scores in extra.pop("metrics").items():
        metrics[split_name].update(scores)
    record.update(extra)
    robustness = evaluate_conditions(method, dataset, order.protocols, job["seed"], test_proba=outputs["test"].proba)
    metrics.update(robustness.metrics)
    record.update(condition_errors=robustness.errors, protocol_seconds=robustness.seconds)
    fit_info = dict(getattr(method, "fit_info_", {}))
    record.update(
        status="ok",
        threshold=fit_info.get("threshold"),
        metrics=metrics,
        per_label=per_label,
        curve=fit_info.pop("curve", []),
        fit_info=fit_info,
        device=fit_info.get("device", "cpu"),
        label_names=list(dataset.label_names),
        dataset_notes=list(dataset.notes),
    )
    if record["curve"] and "test_proba" in arrays:  # a deep job: did it learn more than the prior?
        record["warnings"] = _collapse_warnings(method, dataset, arrays)
    with ResultStore.files_only(order.results_dir) as store:  # only the driver opens the database
        store.save_predictions(job["key"], arrays)
    record.update(save_model_for_record(order.results_dir, job["key"], method, order.save_models))
    if checkpoints is not None and not order.keep_checkpoints:  # the job is done: its checkpoint served
        checkpoints.remove()


def run_job(order: JobOrder) -> dict:
    """Fit, predict, score and store one job; never raises (failures are records)."""
    _configure_threads(order.threads)
    if _progress_queue is not None:
        progress.set_listener(_forward_progress(_progress_queue, order.label))
    progress.report(kind="start")  # when the job really starts (the pool queues jobs long before)
    record = _base_record(order)
    try:
        _fit_and_evaluate(order, record)
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a record
        from mmerbench.errors import StoreWriteError

        if isinstance(exc, StoreWriteError):  # not this job's fault: the runner stops the run
            record["store_error"] = str(exc)
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc()
    record.setdefault("model_path", None)  # a failed job has no model
    record["peak_rss_mb"] = round(peak_rss_mb(), 1)
    record["finished_at"] = _now()
    return record
