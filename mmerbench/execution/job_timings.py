"""How long jobs like these took before: the stored timings the run's estimate starts from.

A job's *work seconds* are what its record measured (fit, prediction, robustness conditions); a stored
record gives no wall time finer than a second, so the estimate of a job never run in this run counts
its work seconds only (the process start, dataset open and save come on top: an under-estimate).
"""

from __future__ import annotations

import statistics
from numbers import Real


def group_of(method: str, preset: str | None) -> str:
    """``lddu (paper)`` or ``br``: what the estimate is kept per."""
    return f"{method} ({preset})" if preset else method


def work_seconds(record: dict) -> float | None:
    """Fit + predict + protocol seconds of a record, or None when it measured none."""
    parts = [record.get("fit_seconds"), record.get("predict_seconds")]
    protocols = record.get("protocol_seconds")
    parts.extend(protocols.values() if isinstance(protocols, dict) else [protocols])
    numbers = [float(p) for p in parts if isinstance(p, Real) and not isinstance(p, bool) and p >= 0]
    return sum(numbers) if numbers and record.get("fit_seconds") is not None else None


def stored_seconds(store, jobs) -> dict[str, float]:
    """``{"<group>|<dataset>": median work seconds}`` of the finished records in ``store`` of the same method,
    preset and dataset as some job of ``jobs`` (planned jobs)."""
    wanted = {(job.method, job.preset, job.dataset) for job in jobs}
    found: dict[str, list[float]] = {}
    for dataset in sorted({job.dataset for job in jobs}):
        for record in store.records(dataset=dataset, status="ok"):
            if (record.get("method"), record.get("preset"), dataset) not in wanted:
                continue
            seconds = work_seconds(record)
            if seconds is not None:
                found.setdefault(f"{group_of(record['method'], record.get('preset'))}|{dataset}", []).append(seconds)
    return {key: statistics.median(values) for key, values in found.items()}
