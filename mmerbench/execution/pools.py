"""The pools behind ``--executor``: what the runner asks a pool, answered by each engine.

The runner never compares executor names: it asks the pool which function runs a
job (:attr:`PoolKind.job_function`), how many threads a job gets, the device of
job *i*, whether records published by jobs that ended while no driver ran must
be collected first, and how a job that died is described. This module is the
one place that maps ``--executor NAME`` to a pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from mmerbench.config import RunConfig
from mmerbench.execution.engine_log import engine_log_path
from mmerbench.execution.executor_options import job_device
from mmerbench.execution.job_files import run_and_publish
from mmerbench.execution.local_pool import FreshProcessPool, Outcome
from mmerbench.execution.planning import check_dataset_params, split_settings
from mmerbench.execution.warm_pool import WarmForkPool, start_warm_server
from mmerbench.execution.worker import run_job


@dataclass(frozen=True)
class PoolKind:
    """How one engine runs jobs, as the runner needs to know it before and while the jobs run."""

    job_function: Callable  # JobOrder -> record, run in the engine's worker
    collects_finished: bool  # remote jobs publish records the driver gathers (also after a driver stopped)
    asks_cpus_per_job: bool  # a remote job is given the CPUs it asked for (--cpus-per-job), not this machine's
    assigns_gpus_here: bool  # this machine's GPUs are shared out job by job

    def threads_per_job(self, config: RunConfig) -> int:
        """``--threads``, on every engine: never derived from --jobs, --cpus-per-job or the machine's cores,
        because a deep method's numbers depend on it (another count sums floats in another order). Remote
        engines are refused earlier when it exceeds the CPUs a job asks for
        (:func:`~mmerbench.execution.executor_options.check_executor_options`)."""
        return config.threads

    def oversubscribed(self, config: RunConfig, workers: int, cores: int) -> str | None:
        """A note when this machine's jobs would run more threads at once than it has cores."""
        if self.asks_cpus_per_job or workers * config.threads <= cores:
            return None
        return (f"{workers} jobs x {config.threads} threads > {cores} cores: jobs will slow each other down "
                "(the numbers stay the same)")

    def device_of(self, config: RunConfig, index: int, gpu_count: int) -> str:
        if self.assigns_gpus_here:
            return job_device(config.device, index, gpu_count, config.gpus_per_job)
        return config.device  # the engine's node decides (auto picks its GPU when it has one)

    def failure_cause(self, ended: Outcome) -> str | None:
        """The engine's own cause of a job that died without a record (Ray's or Slurm's first line)."""
        if self.collects_finished and ended.child_error:
            return ended.child_error.splitlines()[0]
        return None


LOCAL = PoolKind(job_function=run_job, collects_finished=False, asks_cpus_per_job=False,
                 assigns_gpus_here=True)
REMOTE = PoolKind(job_function=run_and_publish, collects_finished=True, asks_cpus_per_job=True,
                  assigns_gpus_here=False)
KINDS = {"local": LOCAL, "ray": REMOTE, "slurm": REMOTE, "slurm-local": REMOTE}


def pool_kind(config: RunConfig) -> PoolKind:
    return KINDS[config.executor]


def engine_log(config: RunConfig, results) -> Path | None:
    """The file where the executor's own messages go (Ray's banners), or None when it prints none."""
    return engine_log_path(results, "ray") if config.executor == "ray" else None


def make_pool(config: RunConfig, workers: int, keys, results, on_start, timeout,
              on_event: Callable | None = None, datasets: Sequence[tuple[str, dict]] = ()):
    """The pool of ``--executor``; ``datasets`` (``[(name, params), ...]``, the jobs' data) are what a local
    warm server that is not running yet loads once for all the jobs it forks. ``on_event(tag, event)`` receives
    the progress events of a local pool's jobs (each on its own pipe); remote engines send none."""
    if config.executor == "ray":
        from mmerbench.execution.ray_pool import RayPool

        return RayPool(config.ray_address, workers, config.cpus_per_job, config.gpus_per_job,
                       on_start=on_start, timeout=timeout, log_path=engine_log(config, results))
    if config.executor in ("slurm", "slurm-local"):
        from mmerbench.execution.slurm_pool import SlurmPool

        return SlurmPool(config, results, keys, on_start=on_start, timeout=timeout)
    if config.fresh_interpreter:
        return FreshProcessPool(workers, on_start=on_start, timeout=timeout, on_event=on_event)
    return WarmForkPool(workers, on_start=on_start, timeout=timeout, on_event=on_event,
                        methods=config.methods, datasets=datasets, threads=config.threads)


def warm_up(config: RunConfig) -> None:
    """Before planning: start what the pool will need (the local pool's warm server), so that it loads its
    imports and the run's datasets while the driver plans."""
    if config.executor == "local" and not config.fresh_interpreter:
        start_warm_server(config.methods, run_datasets(config), config.threads)


def run_datasets(config: RunConfig) -> list[tuple[str, dict]]:
    """``[(name, params), ...]`` of the run's datasets as planning will resolve them; [] when the settings do not
    resolve (planning then says why: preloading is an optimisation and never the place of an error)."""
    try:
        _, per_dataset = split_settings(dict(config.settings or {}), list(config.methods), list(config.datasets))
        return [(name, check_dataset_params(name, per_dataset[name])) for name in dict.fromkeys(config.datasets)]
    except Exception:  # noqa: BLE001
        return []
