"""The local pool without the cold start: each job in its own process, forked from a warm server.

:class:`~mmerbench.execution.local_pool.FreshProcessPool` starts every job in a fresh ``spawn``
interpreter, which then imports numpy, scikit-learn, torch, the plugins and mmerbench's worker again:
seconds per job that are not isolation. This pool hands the same calls to multiprocessing's
``forkserver``: a server process started once per driver, which imports those modules once (the
``preload``) and then forks one child per job. The child is still a separate process — a crash, an
``os._exit``, the OOM killer or a timeout ends that job alone, its peak memory is its own, and no job
sees another job's state (every child is forked from the clean server, never from a previous job) —
but it starts with the imports done, and with what :mod:`~mmerbench.execution.warm_state` prepared in the
server after them: the plugin registry, the run's datasets (loaded and checked once, still compared with
each job's planned fingerprint), a frozen garbage-collector heap.

What the child does *not* inherit from the server is taken from the driver with each call: the
environment at the time the run starts (``MMERBENCH_PLUGINS``, ``MMERBENCH_HOME``, ...), so a
job sees the same environment as under the spawn pool. The working directory and ``sys.path`` come
from the driver as they do for spawn (multiprocessing's preparation data).

The server is global to the driver process (multiprocessing keeps one); a later run that needs modules
the server lacks restarts it with them (:func:`warm_server_with`).
"""

from __future__ import annotations

import multiprocessing
import os
from contextlib import contextmanager
from multiprocessing import forkserver
from typing import Any, Callable, Iterator, Sequence

from mmerbench.execution.local_pool import FreshProcessPool, Outcome
from mmerbench.execution.warm_state import DATASETS_ENV, adopt_registry, encode_datasets
from mmerbench.spans import span

# What every job imports, whatever its method: loaded once in the server.
WORKER_MODULES = (
    "mmerbench.execution.worker",
    "mmerbench.execution.job_dataset",
    "mmerbench.execution.job_models",
    "mmerbench.execution.protocols",
    "mmerbench.evaluation.job_scores",
    "mmerbench.evaluation.metrics",
    "mmerbench.plugins",
    "mmerbench.api",
    "mmerbench.saved_models",
    "mmerbench.io.model_files",
    "mmerbench.execution.proba_check",
)
# Imported last by the server: the plugin registry, the run's datasets, the frozen heap (warm_state.py).
SERVER_SETUP = "mmerbench.execution.warm_server_setup"


def warm_server_with(modules: Sequence[str]) -> None:
    """Make the server preload ``modules``: multiprocessing reads the list only when the server starts, so a
    server already running without one of them (an earlier run of this driver, e.g. in a notebook or a test
    session, with other methods) is stopped, to be started again with both runs' modules. Called between
    runs, when no job of this driver runs; children already forked live on without their server.
    :data:`SERVER_SETUP` always comes last: it prepares the registry and the datasets with the imports done."""
    server = forkserver._forkserver
    current = [name for name in (getattr(server, "_preload_modules", None) or [])
               if name not in ("__main__", SERVER_SETUP)]
    wanted = list(dict.fromkeys([*current, *modules]))
    running = getattr(server, "_forkserver_pid", None) is not None
    if running and set(wanted) - set(current) and hasattr(server, "_stop"):
        server._stop()  # private but stable since Python 3.8 (multiprocessing's own tests use it)
    forkserver.set_forkserver_preload([*wanted, SERVER_SETUP])


def start_warm_server(modules: Sequence[str], datasets: Sequence[tuple[str, dict]] = ()) -> None:
    """Start the server now, unless it runs with these modules already; it imports them (and loads
    ``datasets``, ``[(name, params), ...]``) in its own process, while the driver goes on planning the run.
    The first job waits for it only if it is not ready by then. A server already running keeps the datasets it
    loaded when it started: datasets never restart it (a job loads a dataset the server lacks itself)."""
    warm_server_with([*WORKER_MODULES, *modules])
    with span("driver: start the warm server (spawn only)"), _variable(DATASETS_ENV, encode_datasets(datasets)):
        forkserver.ensure_running()  # spawns the server and returns: its imports run in the server


@contextmanager
def _variable(name: str, value: str):
    """``name=value`` in this process's environment while the server is spawned (it inherits it), then as before:
    the server reads it at start; the driver's environment, which jobs copy, keeps none of it."""
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def run_in_environment(environment: dict[str, str], function: Callable, args: tuple):
    """In the forked child: take the driver's environment of now, then run the call."""
    os.environ.clear()
    os.environ.update(environment)
    adopt_registry()  # the server's plugin registry, when it was built in this run's plugin environment
    return function(*args)


class WarmForkPool(FreshProcessPool):
    """:class:`FreshProcessPool`'s contract (one process per call, timeouts, deaths attributed to their
    call, early close terminates what runs), with each process forked from a server that has ``preload``
    imported."""

    def __init__(self, workers: int, initializer: Callable | None = None, initargs: tuple = (),
                 on_start: Callable[[Any], None] | None = None, timeout: float | None = None,
                 preload: Sequence[str] = (), datasets: Sequence[tuple[str, dict]] = ()):
        super().__init__(workers, initializer, initargs, on_start=on_start, timeout=timeout)
        self.context = multiprocessing.get_context("forkserver")
        start_warm_server(preload, datasets)

    def run(self, calls: Sequence[tuple[Any, Callable, tuple]]) -> Iterator[Outcome]:
        environment = dict(os.environ)  # the driver's, as the run starts: what a spawned job would see
        return super().run([(tag, run_in_environment, (environment, function, args)) for tag, function, args in calls])
