"""Reading stored job rows defensively: a malformed row is reported by key and skipped.

A store is shared, copied and sometimes edited by hand; one bad row (JSON cut
short, a record without its metrics) must not turn `results` or `leaderboard`
into a traceback, and must not count as a finished job on resume.
"""

from __future__ import annotations

import json
import math
import warnings

from mmerbench.names import record_name_problem

# Every row carries these; a finished ("ok") row also needs its identity and test metrics.
REQUIRED_FIELDS = ("key", "status", "method", "dataset", "seed")
REQUIRED_OK_FIELDS = ("method_version", "dataset_fingerprint", "metrics")


class MalformedRowWarning(UserWarning):
    """A row of the results store could not be read and was skipped."""


def row_problem(key: str, text: str) -> tuple[dict | None, str | None]:
    """``(record, None)`` for a well-formed row, else ``(None, what is wrong)``."""
    try:
        record = json.loads(text)
    except (TypeError, ValueError, RecursionError) as exc:
        return None, f"its record is not valid JSON ({type(exc).__name__}: {exc})"
    if not isinstance(record, dict):
        return None, f"its record is a JSON {type(record).__name__}, not an object"
    problem = stored_record_problem(key, record)
    return (None, problem) if problem else (record, None)


def stored_record_problem(key: str, record: dict) -> str | None:
    """What keeps a record (a dict) from being the row ``key`` of a store, or None."""
    missing = [name for name in REQUIRED_FIELDS if name not in record]
    if record.get("status") == "ok":
        missing += [name for name in REQUIRED_OK_FIELDS if name not in record]
        metrics = record.get("metrics")
        if "metrics" in record and not (isinstance(metrics, dict) and isinstance(metrics.get("test"), dict)):
            missing.append("metrics.test")
    if missing:
        return f"its record lacks {', '.join(missing)}"
    problem = record_problem(record)
    if problem is not None:
        return problem
    if record["key"] != key:
        return f"its record says key {record['key']!r}"
    return None


def record_problem(record: dict) -> str | None:
    """What makes a record unfit to store or show (a name that is not a name, a seed that is not an
    integer, a metric that is not a finite number), or None. Records may come from other people's
    folders: this is checked on every row read and every record collected."""
    problem = record_name_problem(record)
    if problem is not None:
        return problem
    seed = record.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int):
        return f"seed {str(seed)[:40]!r} is not an integer"
    return _non_finite(record.get("metrics"), "metrics")


def _non_finite(value, where: str) -> str | None:
    """The first metric that is not a finite number (None, text and flags are allowed), or None."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return None
    if isinstance(value, (int, float)):
        return None if math.isfinite(value) else f"{where} is {value!r}, not a finite number"
    if isinstance(value, dict):
        for name, item in value.items():
            problem = _non_finite(item, f"{where}.{name}")
            if problem:
                return problem
        return None
    if isinstance(value, list):
        for index, item in enumerate(value):
            problem = _non_finite(item, f"{where}[{index}]")
            if problem:
                return problem
        return None
    return f"{where} holds a {type(value).__name__}, not a number"


def warn_malformed(store_path, key: str, problem: str) -> None:
    shown = key if isinstance(key, str) and key.isalnum() else repr(str(key)[:60])  # no control characters
    warnings.warn(f"skipped row {shown} of {store_path}: {problem}", MalformedRowWarning, stacklevel=3)
