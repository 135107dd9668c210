"""The pool for ``--executor``: each yields one Outcome per call (local processes, Ray tasks, a Slurm array)."""

from __future__ import annotations

from mmerbench.execution.executor_options import ExecutorOptions
from mmerbench.execution.local_pool import FreshProcessPool


def make_pool(options: ExecutorOptions, workers: int, todo, results, on_start, timeout, initializer, initargs):
    if options.name == "ray":
        from mmerbench.execution.ray_pool import RayPool

        return RayPool(options.ray_address, workers, options.cpus_per_job, options.gpus_per_job,
                       on_start=on_start, timeout=timeout)
    if options.name in ("slurm", "slurm-local"):
        from mmerbench.execution.slurm_pool import SlurmPool

        return SlurmPool(options, results, [job.key for job in todo], on_start=on_start, timeout=timeout)
    return FreshProcessPool(workers, initializer, initargs, on_start=on_start, timeout=timeout)
