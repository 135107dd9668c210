"""One claim per job, so two runs on the same results folder share the work instead of doubling it.

A job's claim is ``<results>/claims/<key>.json``, created with ``O_EXCL`` (exactly one process wins)
by the worker that is about to run the job, and holding its host, pid and start time. While the worker
runs, a thread touches the file every ``HEARTBEAT_SECONDS``; the worker removes it when the job ends
(only if the claim is still its own). A claim is stale, and is taken over, when its holder is a process
of this host that no longer exists, or when its heartbeat is older than ``STALE_AFTER_SECONDS`` (a
worker on another host killed by Slurm or Ray). Taking over renames the stale file first, so of two
processes recovering the same claim only one succeeds.

A worker that finds its job claimed by a live holder returns a ``claimed`` record instead of running it;
the driver stores nothing for it (the holder's run stores the job). This works the same for local,
Ray and Slurm workers, since the claim lives in the shared results folder, not in any driver's memory.
"""

from __future__ import annotations

import json
import os
import platform
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from mmerbench.names import check_key, contained

CLAIMS_DIR = "claims"
HEARTBEAT_SECONDS = 20.0
STALE_AFTER_SECONDS = 180.0
CLAIMED = "claimed"  # the status of the record a worker returns for a job another process holds


def claim_path(results_dir, key: str) -> Path:
    folder = Path(results_dir) / CLAIMS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return contained(folder, f"{check_key(key, 'job claim')}.json", refuse_symlink=True)


def _me() -> dict:
    return {"host": platform.node(), "pid": os.getpid(),
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def _read(path: Path) -> dict | None:
    try:
        holder = json.loads(path.read_text(encoding="utf-8")[:4096])
        return holder if isinstance(holder, dict) else {}
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}  # half-written or damaged: judged by its age alone


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return not _zombie(pid)  # exists, owned by someone else
    except (TypeError, ValueError):
        return False
    return not _zombie(pid)


def _zombie(pid) -> bool:
    """A process that has ended but was not reaped yet (Linux's /proc state Z or X) still answers a signal 0:
    a job killed with its run (kill -9 of the group) stays so until its new parent reaps it, and its claim must
    not keep the job from being run again. Where /proc cannot tell, the process counts as not ended."""
    try:
        with open(f"/proc/{int(pid)}/stat", encoding="ascii", errors="replace") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError, ValueError):
        return False
    return state in ("Z", "X")


def is_stale(path: Path, holder: dict) -> bool:
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return True
    if age > STALE_AFTER_SECONDS:
        return True
    if holder.get("host") == platform.node() and holder.get("pid") is not None:
        return not _alive(holder["pid"])
    return False


def release_dead(results_dir, keys) -> list[str]:
    """Remove the claims of ``keys`` whose holder is a dead process of this host (a worker the driver stopped,
    or one that died), so that a stopped run leaves nothing behind; live or remote holders keep theirs."""
    folder = Path(results_dir) / CLAIMS_DIR
    removed = []
    for key in keys:
        path = folder / f"{key}.json"
        holder = _read(path) if path.is_file() and not path.is_symlink() else None
        if holder is not None and holder.get("host") == platform.node() and holder.get("pid") is not None \
                and not _alive(holder["pid"]):
            path.unlink(missing_ok=True)
            removed.append(key)
    return removed


def try_claim(results_dir, key: str) -> dict | None:
    """Claim ``key`` for this process: None when claimed, else the live holder's description."""
    path = claim_path(results_dir, key)
    for _ in range(3):
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _read(path)
            if holder is None:
                continue  # released meanwhile: try again
            if not is_stale(path, holder):
                return holder
            try:  # only one of several recovering processes wins this rename
                os.replace(path, path.with_name(f".{path.name}.stale-{os.getpid()}"))
            except FileNotFoundError:
                continue
            path.with_name(f".{path.name}.stale-{os.getpid()}").unlink(missing_ok=True)
            continue
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(_me(), handle)
        return None
    return _read(path) or {"host": "?", "pid": "?"}


def release(results_dir, key: str) -> None:
    """Remove this process's claim of ``key`` (a claim taken over by another process is left alone)."""
    path = claim_path(results_dir, key)
    holder = _read(path)
    if holder and holder.get("host") == platform.node() and holder.get("pid") == os.getpid():
        path.unlink(missing_ok=True)


@contextmanager
def held(results_dir, key: str):
    """Claim the job for the ``with`` block (heartbeat included); yields the other holder, or None when ours."""
    holder = try_claim(results_dir, key)
    if holder is not None:
        yield holder
        return
    path = claim_path(results_dir, key)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            try:
                os.utime(path)
            except OSError:
                return

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield None
    finally:
        stop.set()
        release(results_dir, key)


def finished_elsewhere(results_dir, key: str) -> bool:
    """Whether a concurrent run stored or published an ``ok`` result for ``key`` since this run planned it."""
    from mmerbench.execution.published_records import published_record
    from mmerbench.store.rows import row_problem

    record = published_record(results_dir, key)
    if record is not None and record.get("status") == "ok" and record.get("key") == key:
        return True
    store = Path(results_dir) / "results.sqlite"
    if not store.is_file():
        return False
    import sqlite3

    try:  # read-only; a store that cannot be read says nothing here (the driver reports it)
        connection = sqlite3.connect(store.resolve().as_uri() + "?mode=ro", uri=True, timeout=5)
        try:
            row = connection.execute("SELECT record FROM jobs WHERE key = ? AND status = 'ok'", (key,)).fetchone()
            return row is not None and row_problem(key, row[0])[1] is None  # a malformed row is not finished
        finally:
            connection.close()
    except sqlite3.Error:
        return False


def claimed_record(job: dict, holder: dict, results_dir) -> dict:
    path = Path(results_dir) / CLAIMS_DIR / f"{job['key']}.json"
    return {"key": job["key"], "method": job["method"], "dataset": job["dataset"], "seed": job["seed"],
            "status": CLAIMED,
            "error": (f"job {job['key']} is being run by another mmerbench process (pid {holder.get('pid')} on "
                      f"{holder.get('host')}, since {holder.get('started_at')}); its run stores the result. "
                      f"If no such process exists, delete {path}")}
