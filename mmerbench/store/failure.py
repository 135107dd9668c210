"""When the results store cannot be written: name the cause, stop cleanly, leave no temporaries.

A store write that fails (disk full, read-only file system, a value SQLite
cannot hold) must not end in a traceback that throws away finished jobs:
every job committed before stays, no half-written ``*.tmp-*`` file is left,
and the same command resumes once the cause is fixed.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from mmerbench.errors import StoreWriteError

# Environment variable tests set to make a store write fail at a named point, in
# the main process or in a worker: "put:ENOSPC", "predictions:EROFS", "probe:EROFS".
FAULT_ENV = "MMERBENCH_TEST_STORE_FAULT"

_SQLITE_MESSAGES = {"ENOSPC": "database or disk is full", "EROFS": "attempt to write a readonly database"}


def injected_fault(point: str, sqlite: bool = False) -> None:
    """Raise the failure a test asked for at ``point`` (see FAULT_ENV); otherwise do nothing."""
    wanted = os.environ.get(FAULT_ENV, "")
    at, _, code = wanted.partition(":")
    if at != point:
        return
    if sqlite:
        raise sqlite3.OperationalError(_SQLITE_MESSAGES.get(code, code))
    number = getattr(errno, code, errno.EIO)
    raise OSError(number, os.strerror(number))


def _hint(exc: BaseException) -> str:
    text = str(exc).lower()
    number = getattr(exc, "errno", None)
    if number == errno.ENOSPC or "disk is full" in text:
        return "the disk is full; free some space"
    if number == errno.EROFS or "readonly" in text or "read-only" in text:
        return "the file system or the file is read-only; make it writable or choose another --results directory"
    if number in (errno.EACCES, errno.EPERM):
        return "permission denied; make it writable or choose another --results directory"
    if isinstance(exc, OverflowError) or "too big" in text or "too large" in text:
        return "a value SQLite cannot hold"
    return "see the cause above"


def write_failure(target: Path, exc: BaseException) -> StoreWriteError:
    """The error for a failed write to ``target`` (the SQLite file or a predictions file)."""
    cause = f"{type(exc).__name__}: {exc}"
    return StoreWriteError(f"cannot write to the results store {target}: {cause} ({_hint(exc)})")


def remove_worker_temporaries(predictions_dir: Path, pids) -> list[Path]:
    """Remove the ``.<key>.npz.tmp-<pid>`` files of the given processes (workers stopped mid-write)."""
    removed = []
    suffixes = tuple(f".tmp-{pid}" for pid in pids)
    if not suffixes or not Path(predictions_dir).is_dir():
        return removed
    for path in Path(predictions_dir).iterdir():
        if path.name.startswith(".") and path.name.endswith(suffixes):
            try:
                path.unlink()
                removed.append(path)
            except FileNotFoundError:
                pass
    return removed


def stopped_run_error(exc: StoreWriteError, committed: int, store_path: Path) -> StoreWriteError:
    """The message that ends a run whose store write failed."""
    return StoreWriteError(
        f"{exc}\nThe run stopped. The {committed} job(s) this run committed to {store_path} before the failure "
        "are kept, as are earlier runs' jobs; once the cause is fixed, the same command resumes with the rest."
    )


def commit_or_stop(record: dict, store, committed: list[dict], *, keep_ok: bool = False) -> bool:
    """Store one record and append it to ``committed``, or stop the run when the store cannot be written.

    ``keep_ok``: an ``ok`` row already stored stays (see ``ResultStore.put``); returns whether the record
    was written. The runner's ``finally`` then terminates the workers still running and
    removes their temporary files; every job committed before stays.
    """
    try:
        if record.get("store_error"):  # the worker could not write the job's predictions
            raise StoreWriteError(record["store_error"])
        written = store.put(record, keep_ok=keep_ok)
    except StoreWriteError as exc:
        raise stopped_run_error(exc, len(committed), store.db_path) from None
    if written:
        committed.append(record)
    return written
