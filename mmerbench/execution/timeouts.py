"""A job stopped for running past ``--timeout-per-job``: its record, with the epoch it reached."""

from __future__ import annotations

from datetime import datetime, timezone

from mmerbench.execution.checkpoints import checkpoint_dir, latest_epoch
from mmerbench.io.model_files import ModelFileError


def check_timeout(seconds) -> float | None:
    from mmerbench.errors import UsageError

    if seconds is None:
        return None
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise UsageError(f"--timeout-per-job {seconds!r} is not valid: give a number of seconds above 0")
    return value


def timeout_record(job: dict, provenance: dict, seconds: float, results_dir) -> dict:
    """Status ``timeout``; the checkpoint stays, so raising the limit and re-running continues the job."""
    try:
        epoch = latest_epoch(checkpoint_dir(results_dir, job["key"]))
    except ModelFileError:  # a checkpoint folder that is refused (a link): no epoch to report
        epoch = None
    reached = (f"it had finished epoch {epoch}; its checkpoint is kept, so a re-run with a larger "
               "--timeout-per-job continues from there") if epoch is not None else (
        "no epoch had been checkpointed (a method without epochs, or stopped before its first epoch ended)")
    return {
        **job,
        **provenance,
        "status": "timeout",
        "error": f"stopped after --timeout-per-job {seconds:g} s: {reached}",
        "epoch_reached": epoch,
        "timeout_seconds": seconds,
        "metrics": {},
        "per_label": {},
        "curve": [],
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
