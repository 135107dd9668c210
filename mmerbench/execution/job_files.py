"""What a job run by Ray or Slurm leaves under the results directory, so the driver can gather it.

Only the driver writes the SQLite store. A remote worker writes, besides its prediction and model
files, ``<results>/jobs/<key>.running.json`` when it starts and ``<results>/jobs/<key>.json`` (its
whole record, plain JSON) when it ends. ``mmerbench status`` reads these; ``mmerbench collect`` and
a re-run driver move finished records into the store, including those that ended while no driver
was running. Nothing here is unpickled.

A record in ``jobs/`` is untrusted input (any process that can write the folder can put one there).
Before it is stored: the file is at most ``MAX_RECORD_BYTES``, its name is a job key, the key inside
and the key recomputed from its own content (method, version, parameters, dataset, fingerprints,
seed, threshold policy) both equal that name, its names and metrics are well formed; and it never
replaces an ``ok`` row unless the store says a driver planned that job as a re-run (``--no-resume``;
see ``ResultStore.plan``). A record whose key no driver planned is stored marked ``origin: outside``,
which the leaderboard shows on its row.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from mmerbench.execution.published_records import (  # noqa: F401 (re-exported: where `status` and tests look)
    JOBS_DIR,
    MAX_RECORD_BYTES,
    _jobs_dir,
    _record_path,
    published_record,
    read_record,
)
from mmerbench.names import KEY_PATTERN


# origin of a stored record: gathered from jobs/ for a planned job, or for a key no driver planned
COLLECTED, OUTSIDE = "collected", "outside"


def _write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps(payload, default=str), encoding="utf-8")
    os.replace(partial, path)  # readers see the whole record or none


def run_and_publish(order) -> dict:
    """``worker.run_job`` for a remote worker: mark the job running, run it, publish its record."""
    from mmerbench.execution.worker import run_job

    from mmerbench.execution.job_claims import CLAIMED, claimed_record, held

    job, results_dir = order.job, order.results_dir
    with held(results_dir, job["key"]) as holder:
        if holder is not None:  # another process runs it: its marker and record are its own
            return claimed_record(job, holder, results_dir)
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        marker = _record_path(results_dir, job["key"], ".running.json")
        _write_json(marker, {"key": job["key"], "host": platform.node(), "pid": os.getpid(), "started_at": started})
        record = run_job(order, claimed=True)
        if record.get("status") != CLAIMED:  # finished meanwhile by another run: nothing to publish
            _write_json(_record_path(results_dir, job["key"]), record)
        marker.unlink(missing_ok=True)
    return record


def discard_published(results_dir, key: str) -> None:
    """Remove an old published record of a job the driver runs again, so it is not taken for the new one."""
    _record_path(results_dir, key).unlink(missing_ok=True)


def is_running(results_dir, key: str) -> bool:
    try:
        return _record_path(results_dir, key, ".running.json").is_file()
    except ValueError:
        return False


def published_keys(results_dir) -> list[str]:
    """The names of the published records (``jobs/<name>.json``), whatever they are; checked when collected."""
    directory = _jobs_dir(results_dir)
    if not directory.is_dir():
        return []
    return sorted(p.name[:-len(".json")] for p in directory.glob("*.json") if not p.name.endswith(".running.json"))


@dataclass
class Collected:
    """What one ``collect`` did: records stored, and records refused or kept out, with the reason."""

    stored: list[dict] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # "jobs/NAME.json: why"
    kept: list[str] = field(default_factory=list)  # an ok row stayed: the record was not a planned re-run


def collected_record_problem(name: str, record: dict) -> str | None:
    """Why a published record may not be stored under the name of its file, or None."""
    from mmerbench.execution.planning import record_key
    from mmerbench.store.rows import stored_record_problem

    if not KEY_PATTERN.match(name):
        return "its file name is not a job key (20 lower-case hex digits)"
    if "key" in record and record["key"] != name:
        return f"it says key {str(record['key'])[:40]!r}, but its file is named {name}"
    problem = stored_record_problem(name, record)
    if problem is not None:
        return problem.replace("its record ", "it ")
    try:
        recomputed = record_key(record)
    except ValueError as exc:
        return str(exc)
    if recomputed != name:
        return (f"its content (method, version, parameters, dataset, fingerprint, seed, threshold policy) hashes "
                f"to key {recomputed}, not {name}: it was edited or belongs to another job")
    return None


def collect_published(store, results_dir) -> Collected:
    """Move records published by remote workers into the store (see the module's docstring for the rules)."""
    from mmerbench.store.failure import commit_or_stop

    outcome = Collected()
    finished = store.finished_keys()
    planned = store.planned()
    for name in published_keys(results_dir):
        if name in finished and not planned.get(name):
            continue  # already stored ok, and no re-run planned: nothing to do
        try:
            record = read_record(results_dir, name)
        except FileNotFoundError:
            continue
        except (OSError, ValueError, RecursionError) as exc:
            outcome.refused.append(f"{JOBS_DIR}/{name}.json: cannot be read ({type(exc).__name__}: {exc})")
            continue
        problem = collected_record_problem(name, record)
        if problem is not None:
            outcome.refused.append(f"{JOBS_DIR}/{name}.json: {problem}")
            continue
        if record.get("status") == "ok" and not store.predictions_path(name).is_file():
            continue  # its files are not complete: the job runs again
        record["origin"] = COLLECTED if name in planned else OUTSIDE  # set here, whatever the worker wrote
        if commit_or_stop(record, store, outcome.stored, keep_ok=not planned.get(name)) is False:
            outcome.kept.append(f"{JOBS_DIR}/{name}.json: an ok row of this job is stored and no re-run of it "
                                "was planned, so the ok row stays")
    return outcome
