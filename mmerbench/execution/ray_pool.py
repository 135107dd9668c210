"""Jobs as Ray tasks: one task per job, with the CPUs and GPUs each asks for (``--executor ray``).

Same interface as :class:`~mmerbench.execution.local_pool.FreshProcessPool`: ``run(calls)`` yields an
:class:`Outcome` per call as the calls finish. A task that dies (its worker killed, its node lost)
fails that job only, with Ray's cause. Ray is imported only here, so it stays an optional extra.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from mmerbench.errors import UsageError
from mmerbench.execution.engine_log import engine_output_to
from mmerbench.execution.local_pool import Outcome

RAY_LOGGERS = ("ray",)  # Ray's Python loggers; its C++ parts write to the standard error they inherit


class RayPool:
    def __init__(self, address: str | None, workers: int, cpus_per_job: float, gpus_per_job: float,
                 on_start: Callable[[Any], None] | None = None, timeout: float | None = None,
                 log_path: Path | None = None):
        self.address = address
        self.log_path = log_path  # Ray's own messages (banners, warnings): out of the run's table and progress
        self.workers = workers
        self.cpus_per_job = cpus_per_job
        self.gpus_per_job = gpus_per_job
        self.on_start = on_start or (lambda tag: None)
        self.timeout = timeout
        self.started_pids: list[int] = []  # Ray's workers are not ours to clean up

    def _connect(self):
        import ray

        if ray.is_initialized():
            return ray
        quiet = engine_output_to(self.log_path, RAY_LOGGERS) if self.log_path else contextlib.nullcontext()
        with quiet:
            self._init(ray)
        return ray

    def _init(self, ray) -> None:
        try:
            if self.address is None:  # a private instance on this machine, as many CPUs as --jobs asks
                ray.init(num_cpus=max(1, int(self.workers * self.cpus_per_job)), include_dashboard=False,
                         log_to_driver=False, configure_logging=False)
            else:
                ray.init(address=self.address, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise UsageError(f"--ray-address {self.address}: cannot connect to a Ray cluster ({exc})") from None

    def run(self, calls: Sequence[tuple[Any, Callable, tuple]]) -> Iterator[Outcome]:
        ray = self._connect()
        task = ray.remote(_call).options(num_cpus=self.cpus_per_job, num_gpus=self.gpus_per_job, max_retries=0)
        running: dict[Any, tuple[Any, float]] = {}  # object ref -> (tag, started)
        for tag, function, args in calls:
            running[task.remote(function, args)] = (tag, time.monotonic())
            self.on_start(tag)  # queued: Ray decides when it starts
        try:
            while running:
                wait_for = None
                if self.timeout is not None:
                    wait_for = max(0.0, min(s for _, s in running.values()) + self.timeout - time.monotonic())
                ready, _ = ray.wait(list(running), num_returns=1, timeout=wait_for)
                for ref in ready:
                    tag, _ = running.pop(ref)
                    yield _outcome(ray, tag, ref)
                if self.timeout is not None:
                    for ref, (tag, started) in list(running.items()):
                        if time.monotonic() - started >= self.timeout:
                            running.pop(ref)
                            ray.cancel(ref, force=True)
                            yield Outcome(tag, None, False, timed_out=True)
        finally:
            for ref in running:  # the caller stopped early
                ray.cancel(ref, force=True)


def _call(function, args):
    return function(*args)


def _outcome(ray, tag, ref) -> Outcome:
    try:
        return Outcome(tag, None, True, value=ray.get(ref))
    except Exception as exc:  # noqa: BLE001 - a lost worker or node, an out-of-memory kill: this job only
        return Outcome(tag, None, False, child_error=f"Ray task failed: {type(exc).__name__}: {exc}")
