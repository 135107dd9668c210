"""Names that come from a store, a record or a manifest, checked before they become paths.

A results folder, a ``results.sqlite``, a job record or a saved model may come from someone else.
The strings inside them (job key, dataset, method, preset, file names) are data, never paths:
each is matched against the format mmerbench itself produces, and every path built from one is
checked to stay inside its folder after symlinks are resolved.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from mmerbench.errors import MMERBenchError

# The registry's rule for method and dataset names (lower case, digits, "_", ".", "-"; no leading dot).
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
# What the planner makes: the first 20 hex digits of a SHA-256 (execution/planning.py, job_key).
KEY_PATTERN = re.compile(r"^[0-9a-f]{20}$")
MAX_NAME_LENGTH = 200


class UnsafeNameError(MMERBenchError, ValueError):
    """A name from a file or a store does not have the form mmerbench gives it, or its path leaves its folder."""


def name_problem(field: str, value) -> str | None:
    """What is wrong with ``value`` as the ``field`` of a record (key, method, dataset), or None."""
    if field == "key":
        if not isinstance(value, str) or not KEY_PATTERN.match(value):
            return f"key {value!r} is not a job key (20 lower-case hex digits, as the planner makes)"
        return None
    if not isinstance(value, str) or len(value) > MAX_NAME_LENGTH or not NAME_PATTERN.match(value) or ".." in value:
        return (f"{field} {str(value)[:80]!r} is not a valid {field} name (lower-case letters, digits, '_', '.', "
                f"'-'; starting with a letter or digit)")
    return None


def check_key(key, where: str = "") -> str:
    problem = name_problem("key", key)
    if problem:
        raise UnsafeNameError(f"{where + ': ' if where else ''}{problem}")
    return key


def check_name(field: str, value, where: str = "") -> str:
    problem = name_problem(field, value)
    if problem:
        raise UnsafeNameError(f"{where + ': ' if where else ''}{problem}")
    return value


def record_name_problem(record: dict) -> str | None:
    """The first malformed identity field of a job record (key, method, dataset), or None."""
    for field in ("key", "method", "dataset"):
        if field in record:
            problem = name_problem(field, record[field])
            if problem:
                return problem
    return None


def contained(folder: str | os.PathLike, *parts: str, refuse_symlink: bool = False) -> Path:
    """``folder/parts...``, refused when it resolves (symlinks followed) outside ``folder``.

    ``refuse_symlink`` also refuses a path whose last component is itself a symlink, for folders
    mmerbench writes and deletes in (a link could point the deletion elsewhere).
    """
    base = Path(folder)
    path = base.joinpath(*parts)
    if refuse_symlink and path.is_symlink():
        raise UnsafeNameError(f"{path} is a symbolic link; mmerbench does not follow links here. "
                              f"Remove the link (and the folder will be created afresh)")
    resolved_base = base.resolve()
    resolved = path.resolve()
    if resolved != resolved_base and resolved_base not in resolved.parents:
        raise UnsafeNameError(f"{path} resolves to {resolved}, outside {resolved_base}; refused")
    return path
