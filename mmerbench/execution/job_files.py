"""What a job run by Ray or Slurm leaves under the results directory, so the driver can gather it.

Only the driver writes the SQLite store. A remote worker writes, besides its prediction and model
files, ``<results>/jobs/<key>.running.json`` when it starts and ``<results>/jobs/<key>.json`` (its
whole record, plain JSON) when it ends. ``mmerbench status`` reads these; ``mmerbench collect`` and
a re-run driver move finished records into the store, including those that ended while no driver
was running. Nothing here is unpickled.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

JOBS_DIR = "jobs"


def _jobs_dir(results_dir) -> Path:
    return Path(results_dir) / JOBS_DIR


def _write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps(payload, default=str), encoding="utf-8")
    os.replace(partial, path)  # readers see the whole record or none


def run_and_publish(order) -> dict:
    """``worker.run_job`` for a remote worker: mark the job running, run it, publish its record."""
    from mmerbench.execution.worker import run_job

    job, results_dir = order.job, order.results_dir
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    marker = _jobs_dir(results_dir) / f"{job['key']}.running.json"
    _write_json(marker, {"key": job["key"], "host": platform.node(), "pid": os.getpid(), "started_at": started})
    record = run_job(order)
    _write_json(_jobs_dir(results_dir) / f"{job['key']}.json", record)
    marker.unlink(missing_ok=True)
    return record


def published_record(results_dir, key: str) -> dict | None:
    path = _jobs_dir(results_dir) / f"{key}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):  # damaged: treated as not finished, so the job runs again
        return None


def is_running(results_dir, key: str) -> bool:
    return (_jobs_dir(results_dir) / f"{key}.running.json").is_file()


def published_keys(results_dir) -> list[str]:
    directory = _jobs_dir(results_dir)
    if not directory.is_dir():
        return []
    return sorted(p.name[:-len(".json")] for p in directory.glob("*.json") if not p.name.endswith(".running.json"))


def collect_published(store, results_dir) -> list[dict]:
    """Move records published by remote workers into the store; those already there are left alone."""
    from mmerbench.store.failure import commit_or_stop

    finished = store.finished_keys()
    collected: list[dict] = []
    for key in published_keys(results_dir):
        if key in finished:
            continue
        record = published_record(results_dir, key)
        if record is None:
            continue
        if record.get("status") == "ok" and not store.predictions_path(key).is_file():
            continue  # its files are not complete: the job runs again
        commit_or_stop(record, store, collected)
    return collected
