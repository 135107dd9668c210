"""Reading the records remote workers publish as ``<results>/jobs/<key>.json`` (see job_files.py).

Apart from job_files.py so that the job claims can ask whether a job was finished elsewhere without
importing the code that runs jobs. A record here is untrusted: its size is capped before it is read.
"""

from __future__ import annotations

import json
from pathlib import Path

from mmerbench.names import check_key, contained

JOBS_DIR = "jobs"
MAX_RECORD_BYTES = 64 * 1024 * 1024  # a record with curves and per-condition metrics is well under 1 MiB


def _jobs_dir(results_dir) -> Path:
    return Path(results_dir) / JOBS_DIR


def _record_path(results_dir, key: str, suffix: str = ".json") -> Path:
    check_key(key, "job file")
    return contained(_jobs_dir(results_dir), f"{key}{suffix}")


def read_record(results_dir, key: str) -> dict:
    """The record published as ``jobs/<key>.json``; ValueError says what is wrong with it."""
    from mmerbench.io.capped import read_capped_text

    path = _record_path(results_dir, key)
    text = read_capped_text(path, MAX_RECORD_BYTES, "a job record")
    record = json.loads(text)
    if not isinstance(record, dict):
        raise ValueError(f"it holds a JSON {type(record).__name__}, not a job record (an object)")
    return record


def published_record(results_dir, key: str) -> dict | None:
    try:
        return read_record(results_dir, key)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError):  # damaged: treated as not finished, so the job runs again
        return None


