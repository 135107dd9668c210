"""Time estimates for the run display: how long a job and the whole run have left.

Both are simple rates, on purpose: a job's remaining time is its remaining
epochs times its mean epoch so far (early stopping may end it sooner, so it is
an upper estimate); a run's is its elapsed time per finished job times the jobs
left (with ``--jobs N`` the finished jobs already reflect the parallelism).
"""

from __future__ import annotations

import time
from typing import Callable


def format_duration(seconds: float) -> str:
    """``4.2 s``, ``1:05`` (m:ss) or ``2:03:09`` (h:mm:ss)."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def job_remaining(epoch_seconds: list[float], epoch: int, epochs: int) -> float:
    """Seconds a job has left after ``epoch`` of ``epochs``, at its mean epoch time so far."""
    if not epoch_seconds:
        return 0.0
    return max(0, epochs - epoch) * (sum(epoch_seconds) / len(epoch_seconds))


class RunClock:
    """Elapsed time of a run, and its remaining time once a job has finished."""

    def __init__(self, now: Callable[[], float] = time.monotonic):
        self._now = now
        self.started = now()

    def elapsed(self) -> float:
        return self._now() - self.started

    def remaining(self, done: int, total: int) -> float | None:
        """None until the first job has finished (no rate to go by)."""
        if done < 1:
            return None
        return self.elapsed() / done * max(0, total - done)

    def describe(self, done: int, total: int) -> str:
        """``elapsed 0:42, run ~1:10 left`` (or just ``elapsed 0:42`` at the end)."""
        text = f"elapsed {format_duration(self.elapsed())}"
        left = self.remaining(done, total)
        if left is not None and done < total:
            text += f", run ~{format_duration(left)} left"
        return text
