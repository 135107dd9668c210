"""Jobs as one Slurm array through submitit (``--executor slurm``; ``slurm-local`` uses submitit's local executor).

Each array task runs :func:`~mmerbench.execution.job_files.run_and_publish`, which writes the job's
record as JSON under ``<results>/jobs/``; the driver reads that JSON (never submitit's result
pickle) and alone writes the store. submitit keeps its logs under ``<results>/slurm/<run id>/``;
their paths go into each job's record.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from mmerbench.config import RunConfig
from mmerbench.execution.job_files import published_record
from mmerbench.execution.local_pool import Outcome
from mmerbench.execution.sbatch_options import slurm_parameters

SLURM_DIR = "slurm"
SUBMISSION = "submission.json"
POLL_SECONDS = 1.0


def sbatch_script(options: RunConfig, n_jobs: int, folder: str | Path) -> str:
    """The sbatch file submitit writes for an array of ``n_jobs`` (for checking; nothing is submitted)."""
    from submitit.slurm.slurm import _make_sbatch_string

    return _make_sbatch_string(command="python -u -m submitit.core._submit " + str(folder), folder=str(folder),
                               map_count=n_jobs, **slurm_parameters(options))


def make_executor(options: RunConfig, folder: Path):
    import submitit

    if options.executor == "slurm-local":
        executor = submitit.LocalExecutor(folder=str(folder))
        executor.update_parameters(timeout_min=int(options.slurm_time))
        if options.slurm_setup:
            executor.update_parameters(setup=list(options.slurm_setup))
        return executor
    executor = submitit.SlurmExecutor(folder=str(folder))
    executor.update_parameters(**slurm_parameters(options))
    return executor


def _what(args: tuple) -> dict:
    """Method, dataset and seed of a call's job (for `mmerbench status`)."""
    job = getattr(args[0], "job", None) if args else None
    return {name: job.get(name) for name in ("method", "dataset", "seed")} if isinstance(job, dict) else {}


class SlurmPool:
    def __init__(self, options: RunConfig, results_dir, keys: Sequence[str],
                 on_start: Callable[[Any], None] | None = None, timeout: float | None = None):
        self.options = options
        self.results_dir = Path(results_dir)
        self.keys = list(keys)  # the job key of each call, in order
        self.on_start = on_start or (lambda tag: None)
        self.timeout = timeout
        self.started_pids: list[int] = []
        self.folder = self.results_dir / SLURM_DIR / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"

    def submit(self, calls: Sequence[tuple[Any, Callable, tuple]]) -> list:
        executor = make_executor(self.options, self.folder)
        with executor.batch():  # one array for the whole run
            jobs = [executor.submit(function, *args) for _, function, args in calls]
        submission = {"executor": self.options.executor, "folder": str(self.folder), "jobs": [
            {"key": key, **_what(args), "job_id": str(job.job_id), "stdout": str(job.paths.stdout),
             "stderr": str(job.paths.stderr)}
            for key, job, (_, _, args) in zip(self.keys, jobs, calls)]}
        (self.folder / SUBMISSION).write_text(json.dumps(submission, indent=2))
        for tag, _, _ in calls:
            self.on_start(tag)
        return jobs

    def run(self, calls: Sequence[tuple[Any, Callable, tuple]]) -> Iterator[Outcome]:
        jobs = self.submit(calls)
        pending = {index: (tag, job, time.monotonic()) for index, ((tag, _, _), job) in enumerate(zip(calls, jobs))}
        try:
            while pending:
                for index, (tag, job, started) in list(pending.items()):
                    if job.done():
                        pending.pop(index)
                        yield self._outcome(tag, self.keys[index], job)
                    elif self.timeout is not None and time.monotonic() - started >= self.timeout:
                        pending.pop(index)
                        job.cancel(check=False)
                        yield Outcome(tag, None, False, timed_out=True)
                if pending:
                    time.sleep(POLL_SECONDS)
        finally:
            for _, job, _ in pending.values():  # the caller stopped early
                job.cancel(check=False)

    def _outcome(self, tag, key: str, job) -> Outcome:
        record = published_record(self.results_dir, key)
        logs = {"slurm_job_id": str(job.job_id), "log_stdout": str(job.paths.stdout), "log_stderr": str(job.paths.stderr)}
        if record is not None:
            return Outcome(tag, None, True, value={**record, **logs})
        return Outcome(tag, None, False, child_error=(f"Slurm job failed: job {job.job_id} ended without a record "
                                                      f"(state {job.state}); see its log {job.paths.stderr}"))
