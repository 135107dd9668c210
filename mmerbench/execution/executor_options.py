"""The ``--executor`` settings of a :class:`~mmerbench.config.RunConfig` checked before anything is written.

mmerbench schedules nothing itself beyond one machine: Ray or Slurm (through submitit) do.
"""

from __future__ import annotations

import math
import shutil
import socket

from mmerbench.config import EXECUTORS, RunConfig
from mmerbench.errors import UsageError
from mmerbench.execution.sbatch_options import check_slurm_options

RAY_INSTALL = 'pip install "mmerbench[ray]"'
SLURM_INSTALL = 'pip install "mmerbench[slurm]"'


def check_executor_options(options: RunConfig, gpu_count: int) -> None:
    """Every refusal happens here, before the store or any file exists (exit code 2)."""
    if options.executor not in EXECUTORS:
        raise UsageError(f"--executor {options.executor!r} is not known; use one of {', '.join(EXECUTORS)}")
    if not (options.cpus_per_job > 0 and math.isfinite(options.cpus_per_job)):
        raise UsageError(f"--cpus-per-job {options.cpus_per_job:g} must be a number above 0")
    if not (options.gpus_per_job >= 0 and math.isfinite(options.gpus_per_job)):
        raise UsageError(f"--gpus-per-job {options.gpus_per_job:g} must be 0 or more (fractions such as 0.5 share a GPU)")
    if options.gpus_per_job > 1:  # a job would hold GPUs it never uses
        raise UsageError(f"--gpus-per-job {options.gpus_per_job:g}: a job trains on one device, so give at most 1 "
                         "(fractions such as 0.5 let jobs share a GPU)")
    if options.executor != "local" and options.threads > options.cpus_per_job:
        raise UsageError(f"--threads {options.threads} is more than the {options.cpus_per_job:g} CPU(s) each job "
                         f"asks {options.executor} for (--cpus-per-job): the job's threads would share too few "
                         f"cores; give --cpus-per-job {options.threads} or more, or fewer --threads")
    if options.detach and options.executor not in ("slurm", "slurm-local"):
        raise UsageError(f"--detach works with --executor slurm or slurm-local, not {options.executor} "
                         "(a Ray job needs its driver to gather the results: run it under nohup or tmux instead)")
    if options.executor == "ray":
        _check_ray(options)
    if options.executor in ("slurm", "slurm-local"):
        _check_submitit(options)
    if options.executor in ("slurm", "slurm-local"):
        check_slurm_options(options)
    if options.executor == "slurm" and shutil.which("sbatch") is None:
        raise UsageError("--executor slurm needs Slurm's `sbatch` on the PATH, and it is not there: run on a "
                         "Slurm login node, or use --executor slurm-local to try the same code path on this machine")
    if options.slurm_time <= 0 or options.slurm_array_parallelism < 1:
        raise UsageError("--slurm-time (minutes) and --slurm-array-parallelism must be at least 1")
    # Slurm jobs run on the cluster's GPU nodes, and a remote Ray cluster may have GPUs this machine lacks.
    checks_here = options.executor == "local" or options.executor == "slurm-local" or (
        options.executor == "ray" and options.ray_address is None)
    if options.gpus_per_job > 0 and checks_here and gpu_count == 0:
        raise UsageError(f"--gpus-per-job {options.gpus_per_job:g} asks for GPUs, but this machine has none that "
                         "CUDA can see (CUDA_VISIBLE_DEVICES is respected); drop --gpus-per-job or run where "
                         "GPUs are")


def _check_ray(options: RunConfig) -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        raise UsageError(f"--executor ray needs Ray, which is not installed: {RAY_INSTALL}") from None
    address = options.ray_address
    if address in (None, "auto"):
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--ray-address {address!r} is not valid: give auto or HOST:PORT (the head node's "
                         "GCS address, as `ray start --head` prints it)")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise UsageError(f"--ray-address {address}: nothing answers there ({exc.strerror or exc}); start the "
                         "cluster with `ray start --head`, or leave --ray-address out to start Ray on this "
                         "machine") from None


def _check_submitit(options: RunConfig) -> None:
    try:
        import submitit  # noqa: F401
    except ImportError:
        raise UsageError(f"--executor {options.executor} needs submitit, which is not installed: {SLURM_INSTALL}") from None


def job_device(device: str, index: int, gpu_count: int, gpus_per_job: float = 0.0) -> str:
    """The device of the ``index``-th job on one machine with ``gpu_count`` visible GPUs.

    ``--device auto`` spreads jobs over the GPUs: one GPU per job in turn, or, with a fraction
    ``--gpus-per-job 1/k``, k consecutive jobs share one GPU. ``--device cuda:k`` pins every job.
    Indices count visible GPUs, so CUDA_VISIBLE_DEVICES=2,3 makes cuda:0 the physical GPU 2.
    """
    if device != "auto" or gpu_count <= 0:
        return device
    share = max(1, int(round(1.0 / gpus_per_job))) if 0 < gpus_per_job < 1 else 1
    return f"cuda:{(index // share) % gpu_count}"
