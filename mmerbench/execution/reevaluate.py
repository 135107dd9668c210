"""Evaluate finished jobs again without refitting: new robustness conditions on their saved models,
and the calibration / uncertainty scores of jobs stored before those existed.

``mmerbench evaluate --results DIR --protocol ...`` and ``mmerbench run
--protocol ...`` (for jobs already finished) both come here. A job gets only
the conditions its record does not have yet; its record is then replaced in
the store (one transaction), so an interrupted evaluation loses nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from mmerbench.execution.job_dataset import JobDatasets
from mmerbench.execution.protocols import MISSING_MEAN, PROTOCOL_VERSION, conditions, evaluate_conditions, parse_protocol


@dataclass
class EvaluateOutcome:
    updated: list[dict] = field(default_factory=list)  # records that gained scores
    up_to_date: list[dict] = field(default_factory=list)  # records that had everything asked for
    no_model: list[tuple[dict, str]] = field(default_factory=list)  # (record, why) for jobs not evaluated
    failed: list[tuple[dict, str]] = field(default_factory=list)  # (record, error) for jobs that broke


def outdated_protocols(record: dict) -> bool:
    """Were ``record``'s conditions scored under an older protocol rule (version 1: no ``protocol_version``)?
    Such a record has every condition scored again when it is evaluated, so that it never mixes rules."""
    return bool(record.get("protocols")) and int(record.get("protocol_version") or 1) < PROTOCOL_VERSION


def missing_conditions(record: dict, protocols, modalities) -> list[str]:
    """The condition names of ``protocols`` that ``record`` has neither scores nor an error for (all of them
    when the record's conditions were scored under an older protocol rule)."""
    done = set() if outdated_protocols(record) else (
        set(record.get("metrics") or {}) | set(record.get("condition_errors") or {}))
    every = conditions(protocols, modalities)
    names = [c.name for c in every]
    if any(c.kind == "present" for c in every):
        names.append(MISSING_MEAN)
    return [name for name in names if name not in done]


def _protocols_to_apply(record: dict, asked: list) -> list:
    """The protocols asked for, plus, for a record of an older protocol rule, the ones it was scored under."""
    if not outdated_protocols(record):
        return asked
    texts = {spec.text for spec in asked}
    return asked + [parse_protocol(text) for text in record.get("protocols") or () if text not in texts]


def needs_scores_beyond_accuracy(record: dict) -> bool:
    return "ece" not in ((record.get("metrics") or {}).get("test") or {})


def stored_scores(record: dict, store, dataset) -> dict:
    """Calibration and uncertainty scores from the stored probabilities and uncertainties (no model needed):
    what :func:`mmerbench.evaluation.job_scores.beyond_accuracy` returns. The worker scores the same stored
    (float32) arrays, so for a job stored since issue 27 this reproduces its record exactly."""
    from mmerbench.evaluation.job_scores import SplitOutputs, beyond_accuracy

    arrays = store.load_predictions(record["key"])
    outputs = {}

    def as_float64(name):
        return None if name not in arrays else arrays[name].astype(np.float64)

    for name in ("valid", "test"):
        if f"{name}_proba" not in arrays:
            continue
        split = getattr(dataset, name)
        noise = split.meta.get("noise") if split is not None else None
        outputs[name] = SplitOutputs(proba=as_float64(f"{name}_proba"), labels=arrays[f"{name}_labels"],
                                     uncertainty=as_float64(f"{name}_uncertainty"),
                                     uncertainty_per_modality=as_float64(f"{name}_uncertainty_per_modality"),
                                     noise=None if noise is None else np.asarray(noise, dtype=np.float64))
    threshold = record.get("threshold")
    return beyond_accuracy(outputs, 0.5 if threshold is None else threshold, single_label=dataset.single_label,
                           modalities=list(dataset.modalities))


def _rescore_stored(record: dict, store, dataset) -> None:
    """Calibration and uncertainty scores from the stored probabilities (no model needed), into ``record``."""
    extra = stored_scores(record, store, dataset)
    for name, scores in extra.pop("metrics").items():
        record["metrics"].setdefault(name, {}).update(scores)
    record.update(extra)


def evaluate_finished(store, results_dir, records, protocols, *, device: str | None = None,
                      on_event: Callable[[dict], None] | None = None) -> EvaluateOutcome:
    """Add what ``records`` lack (``protocols``' conditions, scores beyond accuracy) and store them."""
    from mmerbench.saved_models import ModelFileError
    from mmerbench.execution.job_models import load_job_model

    emit = on_event or (lambda event: None)
    protocols = [parse_protocol(p) for p in protocols or ()]  # texts (`evaluate`) or a run's parsed specs
    outcome = EvaluateOutcome()
    datasets = JobDatasets()
    for record in records:
        if record.get("status") != "ok":
            continue
        try:
            dataset = datasets.get(record)
            applied = _protocols_to_apply(record, protocols)
            todo = missing_conditions(record, applied, list(dataset.modalities))
            rescore = needs_scores_beyond_accuracy(record)
            if not todo and not rescore:
                outcome.up_to_date.append(record)
                continue
            started = time.perf_counter()
            if rescore:
                _rescore_stored(record, store, dataset)
            if todo:
                try:
                    method = load_job_model(results_dir, record["key"], device=device)
                except ModelFileError as exc:
                    outcome.no_model.append((record, str(exc)))
                    if rescore:
                        store.put(record)
                    continue
                plain = method.predict_proba(dataset.test)
                _check_reproduces(record, store, plain)
                result = evaluate_conditions(method, dataset, applied, record["seed"], test_proba=plain)
                new = set(todo)
                errors = record.setdefault("condition_errors", {})
                for name in new:  # a condition scored again replaces what an older rule left, scores or error
                    record["metrics"].pop(name, None)
                    errors.pop(name, None)
                record["metrics"].update({k: v for k, v in result.metrics.items() if k in new})
                errors.update({k: v for k, v in result.errors.items() if k in new})
                info = record.setdefault("condition_info", {})
                info.update({k: v for k, v in result.info.items() if k in new})
                record["protocols"] = sorted(set(record.get("protocols") or []) | {p.text for p in protocols})
                record["protocol_version"] = PROTOCOL_VERSION
            record.setdefault("evaluations", []).append(
                {"protocols": [p.text for p in applied], "conditions": todo, "rescored": rescore,
                 "seconds": round(time.perf_counter() - started, 3)})
            store.put(record)
            outcome.updated.append(record)
            emit({"kind": "evaluated", "record": record, "conditions": todo, "rescored": rescore})
        except Exception as exc:  # noqa: BLE001 - one job breaking must not stop the others
            outcome.failed.append((record, f"{type(exc).__name__}: {exc}"))
    return outcome


def _check_reproduces(record: dict, store, proba: np.ndarray) -> None:
    """The saved model must give the stored test probabilities; otherwise its conditions mean nothing."""
    stored = store.load_predictions(record["key"]).get("test_proba")
    if stored is None:
        return
    gap = float(np.max(np.abs(proba.astype(np.float32) - stored))) if stored.size else 0.0
    if gap > 1e-5:
        raise RuntimeError(f"the saved model of job {record['key']} does not reproduce its stored test "
                           f"probabilities (largest difference {gap:.3g}); re-run the job with --no-resume")


def _label(record: dict) -> str:
    return f"{record['method']} on {record['dataset']} seed {record['seed']} ({record['key']})"


def progress_line(record: dict) -> str:
    """One line for a job just evaluated."""
    last = record["evaluations"][-1]
    what = []
    if last["conditions"]:
        what.append(f"{len(last['conditions'])} condition(s)")
    if last["rescored"]:
        what.append("calibration and uncertainty scores")
    return f"evaluated {_label(record)}: {', '.join(what)} in {last['seconds']:.1f} s"


def summary(outcome: EvaluateOutcome, with_progress: bool = True) -> tuple[list[str], list[str]]:
    """(lines for standard output, lines for standard error) describing an evaluation; ``with_progress``
    includes one line per evaluated job (leave it out when they were printed as they happened)."""
    out, err = [], []
    if with_progress:
        out += [progress_line(record) for record in outcome.updated]
    if outcome.up_to_date:
        out.append(f"{len(outcome.up_to_date)} job(s) already had every condition asked for")
    if outcome.no_model:
        err.append(f"{len(outcome.no_model)} job(s) have no saved model, so their new conditions were not evaluated:")
        err += [f"  {_label(record)}: {why}" for record, why in outcome.no_model]
    if outcome.failed:
        err.append(f"{len(outcome.failed)} job(s) could not be evaluated:")
        err += [f"  {_label(record)}: {why}" for record, why in outcome.failed]
    return out, err
