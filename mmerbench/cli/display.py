"""Progress display for ``mmerbench run``: a live view on a terminal, plain lines otherwise.

Plain lines are what logs and scripts read; their wording is stable:

- ``  started: br on synthetic seed 0`` when a job starts in its worker;
- ``  lddu on synthetic seed 0: epoch 3/20, loss 0.4123, valid miF1@0.5 0.512, 2.1 s, job ~36.0 s left``
  (the epoch's validation miF1 at the selection threshold, 0.5 unless fixed; the final score uses the
  threshold tuned on validation)
  after each epoch of a deep job (the epoch's seconds, and the job's remaining
  epochs at its mean epoch time so far);
- ``[2/9] br on synthetic seed 1: test miF1 ... | elapsed 0:42, run ~2:10 left`` when a job ends (the
  run's estimate per method and preset, from this run's finished jobs or stored timings; a method with
  neither is named: ``run ~0:20 left + lddu (paper): no timing yet``, or ``run: nothing to estimate
  from yet (lddu)``).
"""

from __future__ import annotations

import sys
import time

from mmerbench.cli.eta import RunClock, RunEstimate, format_duration, job_remaining


def _valid_title(event: dict) -> str:
    """``valid miF1@0.5``: an epoch's score is at the selection threshold, not the tuned one of the final score."""
    return f"valid miF1@{event.get('valid_threshold', 0.5):g}"


def _job_label(job: dict) -> str:
    preset = f" ({job['preset']})" if job.get("preset") else ""
    return f"{job['method']}{preset} on {job['dataset']} seed {job['seed']}"


def _summary(record: dict) -> str:
    if record["status"] == "timeout":
        return f"TIMEOUT: {record.get('error')}"
    if record["status"] == "trial":  # a search trial (mmerbench tune): scored on validation only
        valid = record.get("metrics", {}).get("valid", {})
        return f"trial, valid miF1 {valid.get('mif1', float('nan')):.3f} ({record.get('fit_seconds') or 0.0:.1f} s fit)"
    if record["status"] == "pruned":
        return f"trial pruned after epoch {record.get('pruned_epoch')}"
    if record["status"] != "ok":
        return f"FAILED: {record.get('error')}"
    test = record.get("metrics", {}).get("test", {})
    seconds = record.get("fit_seconds") or 0.0
    return f"test miF1 {test.get('mif1', float('nan')):.3f}, Acc {test.get('acc', float('nan')):.3f} ({seconds:.1f} s fit)"


def _tune_line(event: dict) -> str:
    best = event.get("best_value")
    if event["kind"] == "tune-final":
        return (f"{event['method']} on {event['dataset']}: best validation miF1 {best:.4f}; running it on seeds "
                f"{', '.join(map(str, event['seeds']))}")
    return (f"search {event['method']} on {event['dataset']}: {event['done']}/{event['trials']} trials "
            f"({event['ran']} run in this round), best validation miF1 "
            f"{'none yet' if best is None else format(best, '.4f')}")


def _plan_line(event: dict) -> str:
    line = f"{event['planned']} jobs planned: {event['todo']} to run, {event['skipped']} already done"
    if event.get("incompatible"):
        line += f", {event['incompatible']} incompatible (not run)"
    return line


class _Timing:
    """What both displays keep: the run's clock and each running job's epoch times."""

    def __init__(self, now=time.monotonic):
        self.now = now  # a fake clock in tests
        self.clock = RunClock(now)
        self.estimate = RunEstimate([], now=now)
        self.epoch_seconds: dict[str, list[float]] = {}

    def run_planned(self, event: dict) -> None:
        """The run starts now (not when the display was made), with its jobs and the stored timings."""
        self.clock = RunClock(self.now)
        self.estimate = RunEstimate(event.get("jobs", []), event.get("stored_seconds"), event.get("slots", 1),
                                    now=self.now)

    def run_text(self) -> str:
        """``elapsed 0:42, run ~1:10 left``."""
        left = self.estimate.describe()
        return f"elapsed {format_duration(self.clock.elapsed())}" + (f", {left}" if left else "")

    def epoch_text(self, event: dict) -> str:
        """``2.1 s, job ~36.0 s left`` for an epoch event (empty when it carries no seconds)."""
        seconds = event.get("seconds")
        if seconds is None:
            return ""
        times = self.epoch_seconds.setdefault(event["job"], [])
        times.append(float(seconds))
        left = job_remaining(times, int(event["epoch"]), int(event["epochs"]))
        return f"{format_duration(float(seconds))}, job ~{format_duration(left)} left"

    def job_ended(self, record: dict) -> None:
        self.epoch_seconds.pop(_worker_label(record), None)
        self.estimate.job_ended(record)


def _worker_label(record: dict) -> str:
    return f"{record['method']} on {record['dataset']} seed {record['seed']}"  # as worker.run_job names it


class PlainProgress:
    """One line per event; what CI logs and pipes get."""

    def __init__(self, stream=None, epochs: bool = True):
        self.stream = stream or sys.stdout
        self.epochs = epochs
        self.timing = _Timing()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def __call__(self, event: dict) -> None:
        kind = event.get("kind")
        if kind == "plan":
            self.timing.run_planned(event)
            for note in event.get("notes", ()):
                self._print(note)
            self._print(_plan_line(event))
        elif kind in ("tune-round", "tune-final"):
            self._print(_tune_line(event))
        elif kind == "job-start":  # its process started: the estimate counts its time from here
            self.timing.estimate.job_started(event["job"])
        elif kind == "job-end":
            record = event["record"]
            self.timing.job_ended(record)
            self._print(f"[{event['done']}/{event['total']}] {_job_label(record)}: {_summary(record)} | "
                        f"{self.timing.run_text()}")
        elif kind == "progress" and event.get("what") == "start":
            self._print(f"  started: {event['job']}")
        elif kind == "progress" and event.get("what") == "resumed":
            self._print(f"  {event['job']}: resumed from epoch {event['resumed_from_epoch']}")
        elif kind == "progress" and self.epochs and "epoch" in event:
            parts = [f"  {event['job']}: epoch {event['epoch']}/{event['epochs']}"]
            if event.get("train_loss") is not None:
                parts.append(f"loss {event['train_loss']:.4f}")
            if event.get("valid_mif1") is not None:
                parts.append(f"{_valid_title(event)} {event['valid_mif1']:.3f}")
            timing = self.timing.epoch_text(event)
            if timing:
                parts.append(timing)
            self._print(", ".join(parts))


class LiveProgress:
    """A rich progress bar for jobs (elapsed, remaining), with the running jobs' epochs beside it."""

    def __init__(self):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TimeRemainingColumn(), transient=False)
        self.jobs_task = None
        self.epoch_tasks: dict[str, int] = {}
        self.timing = _Timing()

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def __call__(self, event: dict) -> None:
        kind = event.get("kind")
        console = self.progress.console
        if kind == "plan":
            self.timing.run_planned(event)
            for note in event.get("notes", ()):
                console.print(note)
            console.print(_plan_line(event))
            self.jobs_task = self.progress.add_task("jobs", total=event["todo"])
        elif kind in ("tune-round", "tune-final"):
            console.print(_tune_line(event), markup=False)
        elif kind == "job-start":  # its process started: the estimate counts its time from here
            self.timing.estimate.job_started(event["job"])
        elif kind == "job-end":
            record = event["record"]
            self.timing.job_ended(record)
            console.print(f"[{event['done']}/{event['total']}] {_job_label(record)}: {_summary(record)} | "
                          f"{self.timing.run_text()}", markup=False)
            if self.jobs_task is not None:
                self.progress.advance(self.jobs_task)
            worker_label = _worker_label(record)
            if worker_label in self.epoch_tasks:
                self.progress.remove_task(self.epoch_tasks.pop(worker_label))
        elif kind == "progress" and event.get("what") == "resumed":
            console.print(f"  {event['job']}: resumed from epoch {event['resumed_from_epoch']}")
        elif kind == "progress" and event.get("what") == "start":
            console.print(f"  started: {event['job']}", markup=False)
        elif kind == "progress" and "epoch" in event:
            name = event["job"]
            if name not in self.epoch_tasks:
                self.epoch_tasks[name] = self.progress.add_task(f"  {name}", total=event["epochs"])
            details = [f"epoch {event['epoch']}/{event['epochs']}"]
            if event.get("valid_mif1") is not None:
                details.append(f"{_valid_title(event)} {event['valid_mif1']:.3f}")
            timing = self.timing.epoch_text(event)
            if timing:
                details.append(timing)
            self.progress.update(self.epoch_tasks[name], completed=event["epoch"],
                                 description=f"  {name} ({', '.join(details)})")


def make_progress(stream=None):
    stream = stream or sys.stdout
    if stream.isatty():
        return LiveProgress()
    return PlainProgress(stream)
