"""A worker process that died: say why, and turn it into that job's failure record."""

from __future__ import annotations

import signal
from datetime import datetime, timezone

# What a signal usually means when it ends a training job.
_SIGNAL_HINTS = {
    "SIGKILL": "out of memory? the kernel's OOM killer sends SIGKILL",
    "SIGSEGV": "a segmentation fault, usually in a native library",
    "SIGBUS": "a bus error, usually in a native library or a memory-mapped file",
    "SIGABRT": "aborted, usually by a failed assertion in a native library",
    "SIGTERM": "terminated from outside",
}


def describe_exit(exitcode: int | None) -> str:
    """Why a worker ended without a result, from its exit code (negative: killed by that signal)."""
    if exitcode is None:
        return "the worker process vanished without an exit code"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = _SIGNAL_HINTS.get(name)
        return f"the worker process was killed by {name}" + (f" ({hint})" if hint else "")
    return (f"the worker process exited with code {exitcode} before returning a result "
            "(os._exit or sys.exit in the method or a library it uses?)")


def death_record(job: dict, provenance: dict, exitcode: int | None, child_error: str | None = None) -> dict:
    """The failure record of the one job whose worker died; the run goes on with the others."""
    error = describe_exit(exitcode) if child_error is None else "the worker failed outside the job"
    record = {
        **job,
        **provenance,
        "status": "failed",
        "error": f"worker process died: {error}",
        "worker_exitcode": exitcode,
        "metrics": {},
        "per_label": {},
        "curve": [],
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if child_error is not None:
        record["traceback"] = child_error
    return record
