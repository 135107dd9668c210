"""Progress display for ``mmerbench run``: a live view on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys


def _job_label(job: dict) -> str:
    preset = f" ({job['preset']})" if job.get("preset") else ""
    return f"{job['method']}{preset} on {job['dataset']} seed {job['seed']}"


def _summary(record: dict) -> str:
    if record["status"] == "timeout":
        return f"TIMEOUT: {record.get('error')}"
    if record["status"] != "ok":
        return f"FAILED: {record.get('error')}"
    test = record.get("metrics", {}).get("test", {})
    seconds = record.get("fit_seconds") or 0.0
    return f"test miF1 {test.get('mif1', float('nan')):.3f}, Acc {test.get('acc', float('nan')):.3f} ({seconds:.1f} s fit)"


class PlainProgress:
    """One line per event; what CI logs and pipes get."""

    def __init__(self, stream=None, epochs: bool = True):
        self.stream = stream or sys.stdout
        self.epochs = epochs

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def __call__(self, event: dict) -> None:
        kind = event.get("kind")
        if kind == "plan":
            for note in event.get("notes", ()):
                self._print(note)
            self._print(f"{event['planned']} jobs planned: {event['todo']} to run, {event['skipped']} already done")
        elif kind == "job-end":
            record = event["record"]
            self._print(f"[{event['done']}/{event['total']}] {_job_label(record)}: {_summary(record)}")
        elif kind == "progress" and event.get("what") == "resumed":
            self._print(f"  {event['job']}: resumed from epoch {event['resumed_from_epoch']}")
        elif kind == "progress" and self.epochs and "epoch" in event:
            parts = [f"  {event['job']}: epoch {event['epoch']}/{event['epochs']}"]
            if event.get("train_loss") is not None:
                parts.append(f"loss {event['train_loss']:.4f}")
            if event.get("valid_mif1") is not None:
                parts.append(f"valid miF1 {event['valid_mif1']:.3f}")
            self._print(", ".join(parts))


class LiveProgress:
    """A rich progress bar for jobs, with the running jobs' epochs beside it."""

    def __init__(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), transient=False)
        self.jobs_task = None
        self.epoch_tasks: dict[str, int] = {}

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def __call__(self, event: dict) -> None:
        kind = event.get("kind")
        console = self.progress.console
        if kind == "plan":
            for note in event.get("notes", ()):
                console.print(note)
            console.print(f"{event['planned']} jobs planned: {event['todo']} to run, {event['skipped']} already done")
            self.jobs_task = self.progress.add_task("jobs", total=event["todo"])
        elif kind == "job-end":
            record = event["record"]
            console.print(f"[{event['done']}/{event['total']}] {_job_label(record)}: {_summary(record)}")
            if self.jobs_task is not None:
                self.progress.advance(self.jobs_task)
            worker_label = f"{record['method']} on {record['dataset']} seed {record['seed']}"  # as worker.run_job names it
            if worker_label in self.epoch_tasks:
                self.progress.remove_task(self.epoch_tasks.pop(worker_label))
        elif kind == "progress" and event.get("what") == "resumed":
            console.print(f"  {event['job']}: resumed from epoch {event['resumed_from_epoch']}")
        elif kind == "progress" and "epoch" in event:
            name = event["job"]
            if name not in self.epoch_tasks:
                self.epoch_tasks[name] = self.progress.add_task(f"  {name}", total=event["epochs"])
            description = f"  {name}"
            if event.get("valid_mif1") is not None:
                description += f" (valid miF1 {event['valid_mif1']:.3f})"
            self.progress.update(self.epoch_tasks[name], completed=event["epoch"], description=description)


def make_progress(stream=None):
    stream = stream or sys.stdout
    if stream.isatty():
        return LiveProgress()
    return PlainProgress(stream)
