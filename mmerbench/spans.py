"""Where a run's time goes: timed spans of its stages, written only when ``MMERBENCH_SPANS`` names a file.

``benchmarks/job_overhead.py`` sets the variable, runs, and reads the file back: one JSON line per span,
from the driver, the warm server and every job process alike (they inherit the variable), each with the
process id, its wall-clock start (``time.time()``, comparable across processes), its wall seconds and
the CPU seconds of the process that ran it. With the variable unset a span costs one dictionary lookup,
so the stages stay instrumented in ordinary runs.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager

ENV = "MMERBENCH_SPANS"


def enabled() -> bool:
    return bool(os.environ.get(ENV))


def write(name: str, start: float, wall: float, cpu: float, **fields) -> None:
    """Append one span (one ``write`` of one line: O_APPEND keeps lines of concurrent processes whole)."""
    path = os.environ.get(ENV)
    if not path:
        return
    line = json.dumps({"name": name, "pid": os.getpid(), "start": start, "wall": wall, "cpu": cpu, **fields})
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, (line + "\n").encode())
    finally:
        os.close(descriptor)


@contextmanager
def span(name: str, **fields):
    """Time the ``with`` body as the stage ``name``."""
    if not enabled():
        yield
        return
    start, started, cpu = time.time(), time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        write(name, start, time.perf_counter() - started, time.process_time() - cpu, **fields)


def mark(name: str, **fields) -> None:
    """A point in time (a span of no length), e.g. the first line a forked job runs."""
    if enabled():
        write(name, time.time(), 0.0, 0.0, **fields)
