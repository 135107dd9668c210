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
from mmerbench.execution.job_claims import claimed_record, finished_elsewhere, held
from mmerbench.execution.job_models import save_model_for_record
from mmerbench.execution.job_order import JobOrder
from mmerbench.execution.trial_job import PRUNED_STATUS, fit_and_score_trial, is_trial
from mmerbench.spans import span
from mmerbench.store.results import ResultStore


def peak_rss_mb() -> float:
    """Peak resident memory of this process (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _configure_threads(threads: int) -> None:
    # Set before torch / BLAS are imported (they read these at start-up); a
    # worker that imports torch for nothing would pay a second for it.
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    if "numpy" in sys.modules:  # BLAS was loaded before the variables above (a job forked from a warm server)
        from mmerbench.execution.warm_state import thread_controller

        controller = thread_controller()
        if controller is not None:  # the warm server inspected the libraries it loaded: no second inspection
            controller.limit(limits=threads)
            return
        try:
            from threadpoolctl import threadpool_limits

            threadpool_limits(threads)
        except ImportError:  # scikit-learn brings threadpoolctl; without it BLAS keeps its own count
            pass


def _forward_progress(job_label: str):
    """The job's progress events, to the driver on the job's own pipe (a local pool's job; elsewhere none)."""
    from mmerbench.execution.local_pool import send_event

    def listener(event: dict) -> None:
        try:
            send_event({"job": job_label, **event})
        except Exception:  # progress must never break a job (a driver gone, an event that cannot be pickled)
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
        "dataset_version": job.get("dataset_version", "1"),
        "tuning": job.get("tuning"),
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
    import numpy as np

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
        predictions = _predictions(method, split, proba)
        # Scores come from exactly what is stored (float32), so that `mmerbench evaluate`, which rescores
        # from the stored files, reproduces them to the bit.
        arrays[f"{split_name}_proba"] = proba.astype("float32")
        arrays[f"{split_name}_labels"] = split.labels
        stored_proba = arrays[f"{split_name}_proba"].astype(np.float64)
        scores = score(split.labels, predictions, stored_proba, single_label=dataset.single_label,
                       label_names=dataset.label_names)
        per_label[split_name] = scores.pop("per_label")
        metrics[split_name] = scores
        own, own_per_modality = own_uncertainty(method, split)
        if own is not None:
            arrays[f"{split_name}_uncertainty"] = own.astype("float32")
            own = arrays[f"{split_name}_uncertainty"].astype(np.float64)
        if own_per_modality is not None:  # what rescoring needs for the per-modality noise_spearman
            arrays[f"{split_name}_uncertainty_per_modality"] = own_per_modality.astype("float32")
            own_per_modality = arrays[f"{split_name}_uncertainty_per_modality"].astype(np.float64)
        outputs[split_name] = split_outputs(split, stored_proba, own, own_per_modality)
    return arrays, metrics, per_label, outputs


def _predictions(method, split, proba):
    """The method's 0/1 predictions of ``split``: ``Method.predict`` is its probabilities thresholded at
    ``threshold_``, so a method that keeps it gets them from ``proba`` (just computed) instead of a second pass
    over the split — the same numbers, as the plugin contract requires ``predict_proba`` to be deterministic
    and ``predict`` to agree with it (``check_predict_threshold``). A method with its own ``predict`` is asked."""
    from mmerbench.evaluation.metrics import threshold_predictions
    from mmerbench.method import Method

    if isinstance(method, Method) and type(method).predict is Method.predict:
        return threshold_predictions(proba, method.threshold_, method.single_label_)
    return method.predict(split)


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
    from mmerbench.execution.protocols import PROTOCOL_VERSION, evaluate_conditions

    job = order.job
    with span("job: dataset open + fingerprint"):
        dataset = load_job_dataset(job)
    method = method_class(job["method"])(**job["params"])
    if job.get("run_options"):  # planned only for a method that honours them (TorchMethod.set_run_options)
        method.set_run_options(**job["run_options"])
    checkpoints = attach_checkpoints(method, order.results_dir, job["key"])
    started = time.perf_counter()
    with span("job: fit"):
        method.fit(dataset.train, dataset.valid)
    record["fit_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    with span("job: predict + score"):
        arrays, metrics, per_label, outputs = _predict_and_score(method, dataset, job)
    record["predict_seconds"] = time.perf_counter() - started
    with span("job: scores beyond accuracy"):
        extra = beyond_accuracy(outputs, method.threshold_, single_label=dataset.single_label,
                                modalities=list(dataset.modalities))
    for split_name, scores in extra.pop("metrics").items():
        metrics[split_name].update(scores)
    record.update(extra)
    robustness = evaluate_conditions(method, dataset, order.protocols, job["seed"], test_proba=outputs["test"].proba)
    metrics.update(robustness.metrics)
    arrays.update({f"{name}_pred": predictions for name, predictions in robustness.predictions.items()})
    record.update(condition_errors=robustness.errors, condition_info=robustness.info,
                  protocol_seconds=robustness.seconds)
    if order.protocols:
        record["protocol_version"] = PROTOCOL_VERSION
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
    # only the driver opens the database
    with span("job: save predictions"), ResultStore.files_only(order.results_dir) as store:
        store.save_predictions(job["key"], arrays)
    with span("job: save model"):
        record.update(save_model_for_record(order.results_dir, job["key"], method, order.save_models))
    if checkpoints is not None and not order.keep_checkpoints:  # the job is done: its checkpoint served
        checkpoints.remove()


def run_job(order: JobOrder, claimed: bool = False) -> dict:
    """Fit, predict, score and store one job; never raises (failures are records).

    The job is claimed first (``execution/job_claims.py``, unless the caller holds the claim): a job that
    another process runs, or that a concurrent run has finished meanwhile, is not run twice.
    """
    if claimed:
        return _run_claimed(order)
    try:
        with span("job: whole (claim to release)"), held(order.results_dir, order.key) as holder:
            if holder is not None:
                return claimed_record(order.job, holder, order.results_dir)
            return _run_claimed(order)
    except (OSError, ValueError) as exc:  # the claim itself could not be taken (a linked or unwritable folder)
        record = _base_record(order)
        record.update(error=f"cannot claim the job: {exc}", model_path=None, finished_at=_now())
        return record


def _run_claimed(order: JobOrder) -> dict:
    if not order.rerun and finished_elsewhere(order.results_dir, order.key):
        return claimed_record(order.job, {"pid": "another run", "host": "this results folder",
                                          "started_at": "before this job started"}, order.results_dir)
    with span("job: configure threads"):
        _configure_threads(order.threads)
    from mmerbench.execution.local_pool import in_job_process

    listeners = [_forward_progress(order.label)] if in_job_process() else []
    pruner = None
    record = _base_record(order)
    try:
        if order.job.get("pruning"):  # a search trial that may stop early (mmerbench.execution.pruning)
            from mmerbench.execution.pruning import EpochPruner

            pruner = EpochPruner(order.job["pruning"])
            listeners.append(pruner.observe)
        if listeners:
            progress.set_listener(_listeners(listeners))
        progress.report(kind="start")  # when the job really starts (the pool queues jobs long before)
        if is_trial(order.job):
            fit_and_score_trial(order, record)
        else:
            _fit_and_evaluate(order, record)
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a record
        from mmerbench.execution.pruning import TrialPruned

        if isinstance(exc, TrialPruned):  # not a failure: the pruner stopped a hopeless trial
            record.update(status=PRUNED_STATUS, pruned_epoch=exc.epoch, curve=list(pruner.curve),
                          error=None, fit_info={"epochs_run": len(pruner.curve)})
        else:
            _record_failure(record, exc)
    finally:
        if listeners:
            progress.set_listener(None)
    checkpoints = record.pop("_checkpoints", None)
    if checkpoints is not None:  # a trial ended (scored, pruned or failed, none is re-run): its checkpoint served
        checkpoints.remove()
    record.setdefault("model_path", None)  # a failed job has no model
    usage = resource.getrusage(resource.RUSAGE_SELF)
    record["cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 2)  # the whole worker: imports included
    record["peak_rss_mb"] = round(peak_rss_mb(), 1)
    record["finished_at"] = _now()
    return record


def _listeners(listeners):
    def listener(event: dict) -> None:
        for each in listeners:  # the display first, then the pruner (which may raise TrialPruned)
            each(event)

    return listener


def _record_failure(record: dict, exc: BaseException) -> None:
    from mmerbench.errors import StoreWriteError

    if isinstance(exc, StoreWriteError):  # not this job's fault: the runner stops the run
        record["store_error"] = str(exc)
    record["error"] = f"{type(exc).__name__}: {exc}"
    record["traceback"] = traceback.format_exc()
