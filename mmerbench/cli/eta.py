"""Time estimates for the run display: how long a job and the whole run have left.

A job's remaining time is its remaining epochs times its mean epoch so far
(early stopping may end it sooner, so it is an upper estimate). A run's is
estimated per method and preset (:class:`RunEstimate`): each job left costs
the mean wall time of this run's finished jobs of its method and preset, or,
where none has finished yet, the median stored timing of the same method,
preset and dataset in the results store; the sum is shared among the run's
slots (``--jobs``), less what the running jobs have already spent. A job with
neither is named as having nothing to estimate from, rather than guessed
from another method's time (one LDDU job once made BR and CC look like half
an hour).
"""

from __future__ import annotations

import time
from typing import Callable

from mmerbench.execution.job_timings import group_of, work_seconds


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


class RunEstimate:
    """The remaining time of a run, per method and preset (see the module docstring).

    ``jobs``: the jobs to run (``method``, ``preset``, ``dataset``, ``seed``); ``stored``: median stored seconds
    by ``"<group>|<dataset>"``; ``slots``: jobs run at once.
    """

    def __init__(self, jobs: list[dict], stored: dict[str, float] | None = None, slots: int = 1,
                 now: Callable[[], float] = time.monotonic):
        self._now = now
        self.slots = max(1, int(slots))
        self.stored = dict(stored or {})
        self.left = {self._label(job): job for job in jobs}  # not yet finished
        self.started: dict[str, float] = {}
        self.finished: dict[str, list[float]] = {}  # group -> this run's wall seconds

    @staticmethod
    def _label(job: dict) -> str:
        return f"{job['method']} on {job['dataset']} seed {job['seed']}"  # as the worker names a job

    def job_started(self, job: dict) -> None:
        self.started[self._label(job)] = self._now()

    def job_ended(self, record: dict) -> None:
        label = self._label(record)
        self.left.pop(label, None)
        began = self.started.pop(label, None)
        seconds = self._now() - began if began is not None else work_seconds(record)
        if seconds is not None and record.get("status") == "ok":  # a failure says nothing of a job's length
            self.finished.setdefault(group_of(record["method"], record.get("preset")), []).append(seconds)

    def _one_job(self, job: dict) -> float | None:
        group = group_of(job["method"], job.get("preset"))
        if self.finished.get(group):
            return sum(self.finished[group]) / len(self.finished[group])
        return self.stored.get(f"{group}|{job['dataset']}")

    def remaining(self) -> tuple[float, list[str]]:
        """(seconds left for the jobs that can be estimated, the groups with nothing to estimate from)."""
        total, unknown = 0.0, []
        now = self._now()
        for label, job in self.left.items():
            seconds = self._one_job(job)
            if seconds is None:
                group = group_of(job["method"], job.get("preset"))
                if group not in unknown:
                    unknown.append(group)
                continue
            total += max(0.0, seconds - (now - self.started[label] if label in self.started else 0.0))
        return total / self.slots, unknown

    def describe(self) -> str:
        """``run ~1:10 left``, ``run ~0:20 left + lddu (paper): no timing yet``, ``run: nothing to estimate
        from yet (lddu, br)`` or empty when nothing is left."""
        if not self.left:
            return ""
        seconds, unknown = self.remaining()
        if len(unknown) == len({group_of(j["method"], j.get("preset")) for j in self.left.values()}):
            return f"run: nothing to estimate from yet ({', '.join(unknown)})"
        text = f"run ~{format_duration(seconds)} left"
        if unknown:
            text += f" + {', '.join(unknown)}: no timing yet"
        return text
