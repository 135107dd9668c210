"""Reading stored job rows defensively: a malformed row is reported by key and skipped.

A store is shared, copied and sometimes edited by hand; one bad row (JSON cut
short, a record without its metrics) must not turn `results` or `leaderboard`
into a traceback, and must not count as a finished job on resume.
"""

from __future__ import annotations

import json
import warnings

# Every row carries these; a finished ("ok") row also needs its identity and test metrics.
REQUIRED_FIELDS = ("key", "status", "method", "dataset", "seed")
REQUIRED_OK_FIELDS = ("method_version", "dataset_fingerprint", "metrics")


class MalformedRowWarning(UserWarning):
    """A row of the results store could not be read and was skipped."""


def row_problem(key: str, text: str) -> tuple[dict | None, str | None]:
    """``(record, None)`` for a well-formed row, else ``(None, what is wrong)``."""
    try:
        record = json.loads(text)
    except (TypeError, ValueError) as exc:
        return None, f"its record is not valid JSON ({exc})"
    if not isinstance(record, dict):
        return None, f"its record is a JSON {type(record).__name__}, not an object"
    missing = [name for name in REQUIRED_FIELDS if name not in record]
    if record.get("status") == "ok":
        missing += [name for name in REQUIRED_OK_FIELDS if name not in record]
        if "metrics" in record and not isinstance((record["metrics"] or {}).get("test"), dict):
            missing.append("metrics.test")
    if missing:
        return None, f"its record lacks {', '.join(missing)}"
    if record["key"] != key:
        return None, f"its record says key {record['key']!r}"
    return record, None


def warn_malformed(store_path, key: str, problem: str) -> None:
    warnings.warn(f"skipped row {key} of {store_path}: {problem}", MalformedRowWarning, stacklevel=3)
