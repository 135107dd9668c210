"""What one job does, inside its own fresh worker process."""

from __future__ import annotations

import os
import resource
import sys
import time
import traceback
from datetime import datetime, timezone

from mmerbench import progress
from mmerbench.checkpoints import attach_checkpoints
from mmerbench.saved_models import save_model_for_record
from mmerbench.store import ResultStore


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


def _forward_progress(queue, job_label: str):
    def listener(event: dict) -> None:
        try:
            queue.put({"job": job_label, **event})
        except Exception:  # progress must never break a job
            pass

    return listener


def run_job(job: dict, results_dir: str, threads: int, device: str, context: dict,
            save_models: bool = True, keep_checkpoints: bool = False) -> dict:
    """Fit, predict, score and store one job; never raises (failures are records)."""
    _configure_threads(threads)
    label = f"{job['method']} on {job['dataset']} seed {job['seed']}"
    if _progress_queue is not None:
        progress.set_listener(_forward_progress(_progress_queue, label))
    progress.report(kind="start")  # when the job really starts (the pool queues jobs long before)
    record = {
        **{k: job[k] for k in ("key", "method", "method_version", "dataset", "dataset_fingerprint", "dataset_params",
                               "seed", "params", "preset", "overrides", "threshold_policy", "command", "notes")},
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
        "device": device,
        "threads": threads,
        "started_at": _now(),
        **context,
    }
    try:
        from mmerbench.api import load_dataset, method_class
        from mmerbench.evaluation.job_scores import beyond_accuracy, own_uncertainty, split_outputs
        from mmerbench.evaluation.protocols import evaluate_conditions
        from mmerbench.metrics import score
        from mmerbench.execution.proba_check import check_probabilities

        dataset = load_dataset(job["dataset"], **job["dataset_params"])
        if job.get("valid_seed") is not None:  # --resample-valid: this seed re-draws the carved validation split
            from mmerbench.data import recarve_validation

            dataset = recarve_validation(dataset, job["valid_seed"])
        if dataset.fingerprint != job["dataset_fingerprint"]:
            raise RuntimeError(
                f"dataset {job['dataset']} changed since the run was planned "
                f"(splits fingerprint {dataset.fingerprint}, expected {job['dataset_fingerprint']}; "
                f"file fingerprint {dataset.fingerprints['file']})"
            )
        method = method_class(job["method"])(**job["params"])
        checkpoints = attach_checkpoints(method, results_dir, job["key"])
        started = time.perf_counter()
        method.fit(dataset.train, dataset.valid)
        record["fit_seconds"] = time.perf_counter() - started
        started = time.perf_counter()
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
        record["predict_seconds"] = time.perf_counter() - started
        extra = beyond_accuracy(outputs, method.threshold_, single_label=dataset.single_label,
                                modalities=list(dataset.modalities))
        for split_name, scores in extra.pop("metrics").items():
            metrics[split_name].update(scores)
        record.update(extra)
        robustness = evaluate_conditions(method, dataset, context.get("protocols") or [], job["seed"],
                                         test_proba=outputs["test"].proba)
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
            from mmerbench.collapse import collapse_warning
            from mmerbench.metrics import threshold_predictions

            test_predictions = threshold_predictions(arrays["test_proba"], method.threshold_, dataset.single_label)
            warning = collapse_warning(test_predictions, dataset.label_names)
            record["warnings"] = [warning] if warning else []
        with ResultStore.files_only(results_dir) as store:  # only the driver opens the database
            store.save_predictions(job["key"], arrays)
        record.update(save_model_for_record(results_dir, job["key"], method, save_models))
        if checkpoints is not None and not keep_checkpoints:  # the job is done: its checkpoint served
            checkpoints.remove()
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
