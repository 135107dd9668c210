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
from mmerbench.execution.warm_state import (
    DATASETS_ENV, METHODS_ENV, THREAD_VARIABLES, adopt_registry, encode_datasets, encode_methods,
)
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


# The server as this driver last started it: the methods it prepared for and the thread count its native
# libraries were loaded with (multiprocessing keeps one server per driver).
_server_methods: tuple[str, ...] = ()
_server_threads: int | None = None


def warm_server_with(modules: Sequence[str], methods: Sequence[str] = (), threads: int = 1) -> bool:
    """Make the server preload ``modules`` and prepare ``methods``' first use, its native libraries loaded for
    ``threads`` threads a job. multiprocessing reads the list only when the server starts, so a server already
    running without one of them, or loaded for another thread count (an earlier run of this driver, e.g. in a
    notebook or a test session), is stopped, to be started again with both runs' modules and methods. Called
    between runs, when no job of this driver runs; children already forked live on without their server.
    :data:`SERVER_SETUP` always comes last: it prepares the registry, the methods and the datasets with the
    imports done. Returns True when a server must be started (none runs, or it was stopped)."""
    global _server_methods, _server_threads
    server = forkserver._forkserver
    current = [name for name in (getattr(server, "_preload_modules", None) or [])
               if name not in ("__main__", SERVER_SETUP)]
    wanted = list(dict.fromkeys([*current, *modules]))
    wanted_methods = tuple(dict.fromkeys([*_server_methods, *methods]))
    running = getattr(server, "_forkserver_pid", None) is not None
    stale = set(wanted) - set(current) or set(wanted_methods) - set(_server_methods) or threads != _server_threads
    if running and stale and hasattr(server, "_stop"):
        server._stop()  # private but stable since Python 3.8 (multiprocessing's own tests use it)
        running = False
    # "__main__" first: the server runs the driver's main script once (as ``__mp_main__``, under its
    # ``if __name__ == "__main__"`` guard), which multiprocessing would otherwise run in every forked job
    # before the job starts (the `mmerbench` command's script imports the whole CLI: ~10-30 ms a job).
    forkserver.set_forkserver_preload(["__main__", *wanted, SERVER_SETUP])
    if not running:
        _server_methods, _server_threads = wanted_methods, threads
    return not running


def start_warm_server(methods: Sequence[str], datasets: Sequence[tuple[str, dict]] = (), threads: int = 1,
                      modules: Sequence[str] = ()) -> None:
    """Start the server now, unless it runs for these methods and this thread count already; it imports their
    modules (and loads ``datasets``, ``[(name, params), ...]``) in its own process, while the driver goes on
    planning the run. The first job waits for it only if it is not ready by then. A server already running keeps
    the datasets it loaded when it started: datasets never restart it (a job loads a dataset the server lacks).

    The driver does not import the methods to start the server: it names their modules from the registry's
    targets, and the server decides what else their first use needs (:mod:`~mmerbench.execution.warm_state`).
    The native libraries (BLAS, OpenMP, torch) are loaded with the jobs' thread count in the environment, as in a
    job spawned with ``--threads``: lowering the count of a pool already started at the machine's core count
    leaves its extra threads spinning beside every call (measured: a br fit took 0.15 s instead of 0.077 s)."""
    must_start = warm_server_with([*WORKER_MODULES, *method_modules(methods), *modules], methods, threads)
    if not must_start:
        return
    server_environment = {DATASETS_ENV: encode_datasets(datasets), METHODS_ENV: encode_methods(_server_methods),
                          **{variable: str(threads) for variable in THREAD_VARIABLES}}
    with span("driver: start the warm server (spawn only)"), _variables(server_environment):
        forkserver.ensure_running()  # spawns the server and returns: its imports run in the server


def method_modules(names: Sequence[str]) -> list[str]:
    """The modules of the run's registered methods, named from their registry targets (no import here)."""
    from mmerbench.plugins import get_registry

    modules = []
    for name in names:
        try:
            target = get_registry().method(name).target
        except Exception:  # noqa: BLE001 - a name planning refuses never reaches a pool; preloading is an optimisation
            continue
        modules.append(target.partition(":")[0] if isinstance(target, str) else target.__module__)
    return list(dict.fromkeys(modules))


@contextmanager
def _variables(values: dict[str, str]):
    """These variables in this process's environment while the server is spawned (it inherits them), then as
    before: the server reads them at start; the driver's environment, which jobs copy, keeps none of them."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_in_environment(environment: dict[str, str], function: Callable, args: tuple):
    """In the forked child: take the driver's environment of now, then run the call."""
    os.environ.clear()
    os.environ.update(environment)
    adopt_registry()  # the server's plugin registry, when it was built in this run's plugin environment
    return function(*args)


class WarmForkPool(FreshProcessPool):
    """:class:`FreshProcessPool`'s contract (one process per call, timeouts, deaths attributed to their
    call, early close terminates what runs), with each process forked from a server prepared for ``methods``
    (their modules, their first use), ``datasets`` and ``threads`` threads a job, that has also imported
    ``preload``."""

    def __init__(self, workers: int, on_start: Callable[[Any], None] | None = None, timeout: float | None = None,
                 methods: Sequence[str] = (), datasets: Sequence[tuple[str, dict]] = (), threads: int = 1,
                 preload: Sequence[str] = (), on_event: Callable[[Any, Any], None] | None = None):
        super().__init__(workers, on_start=on_start, timeout=timeout, on_event=on_event)
        self.context = multiprocessing.get_context("forkserver")
        start_warm_server(methods, datasets, threads, modules=preload)

    def run(self, calls: Sequence[tuple[Any, Callable, tuple]]) -> Iterator[Outcome]:
        environment = dict(os.environ)  # the driver's, as the run starts: what a spawned job would see
        return super().run([(tag, run_in_environment, (environment, function, args)) for tag, function, args in calls])
