"""Run jobs = methods x datasets x seeds, each in a fresh ``spawn`` worker.

The main process plans the jobs (resolving hyperparameters and dataset
fingerprints), skips those already finished in the store, runs the rest in a
process pool whose workers each run exactly one job, and writes each record to
the store as soon as it arrives. A failed job is recorded with its traceback
and the others go on; it is retried on the next run.
"""

from __future__ import annotations

import importlib.metadata
import multiprocessing
import os
import platform
import queue as queue_module
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from mmerbench.api import load_dataset, method_class
from mmerbench.compatibility import dataset_incompatibility
from mmerbench.data import recarve_validation
from mmerbench.errors import UnknownNameError, UsageError
from mmerbench.evaluation.protocols import parse_protocol
from mmerbench.jobs import (
    Job,
    check_dataset_params,
    job_key,
    parse_threshold,
    reproduce_command,
    resolve_method,
    split_settings,
    threshold_policy,
)
from mmerbench.execution.run_checks import check_device, check_results_path, check_seeds, check_splits_for_evaluation
from mmerbench.execution.store_failure import commit_or_stop, remove_worker_temporaries
from mmerbench.execution.executor_options import ExecutorOptions, check_executor_options, job_device
from mmerbench.execution.job_files import collect_published, run_and_publish
from mmerbench.execution.pools import make_pool
from mmerbench.execution.timeouts import check_timeout, timeout_record
from mmerbench.execution.worker_death import death_record
from mmerbench.plugins import get_registry
from mmerbench.store import ResultStore
from mmerbench.worker import init_worker, run_job

VERSIONED_PACKAGES = ("mmerbench", "torch", "numpy", "scikit-learn", "pandas", "h5py", "scipy")


@dataclass
class RunResult:
    planned: list[Job]
    skipped: list[Job] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    incompatible: list[Job] = field(default_factory=list)  # planned, never run: the method cannot use the data
    evaluation: Any = None  # finished jobs given the run's --protocol conditions (an EvaluateOutcome)

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.records if r["status"] != "ok"]


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


def build_info() -> dict:
    """What setup.py wrote when this copy was built (version, git revision); {} in a source checkout."""
    import json

    path = Path(__file__).resolve().parent / "_build_info.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def git_revision() -> str | None:
    """The project's git revision: of the checkout mmerbench runs from, else the one it was built from."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return build_info().get("git_revision")
    try:
        revision = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if revision.returncode != 0:
        return None
    return revision.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def cuda_device_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except ImportError:  # pragma: no cover
        return 0


def plan(
    methods: Sequence[str],
    datasets: Sequence[str] = ("synthetic",),
    seeds: Sequence[int] = (0,),
    *,
    preset: str | None = None,
    settings: dict[str, Any] | None = None,
    threshold=None,
    device: str = "auto",
    resample_valid: bool = False,
) -> tuple[list[Job], list[str]]:
    """Resolve every job of a run (loading each dataset once for its fingerprint)."""
    if not methods:
        raise UsageError("no methods given: use --methods a,b (see `mmerbench list methods`)")
    seeds = check_seeds(seeds)
    registry = get_registry()
    for name in methods:
        registry.method(name)
    for name in datasets:
        registry.dataset(name)
    threshold = parse_threshold(threshold)
    per_method, per_dataset = split_settings(dict(settings or {}), list(methods), list(datasets))
    notes: list[str] = []
    if preset is not None:
        having = [m for m in methods if preset in method_class(m).presets]
        if not having:
            known = sorted({p for m in methods for p in method_class(m).presets})
            raise UnknownNameError("preset", preset, known, "No method of this run defines it.")
        lacking = [m for m in methods if m not in having]
        if lacking:
            notes.append(f"preset {preset!r} applies to {', '.join(having)}; {', '.join(lacking)} keep their defaults")
    cuda_devices = cuda_device_count()
    check_device(device, cuda_devices)
    cpu_only = cuda_devices == 0
    cpu_chosen: list[str] = []  # methods whose 'cpu' preset --device auto picked
    jobs: list[Job] = []
    for dataset_name in datasets:
        dataset_params = check_dataset_params(dataset_name, per_dataset[dataset_name])
        dataset = load_dataset(dataset_name, **dataset_params)
        if resample_valid and dataset.uncarved_train is None:
            notes.append(f"--resample-valid: {dataset_name} has its own validation split, so seeds do not "
                         "re-draw it")
        check_splits_for_evaluation(dataset, dataset_name)
        for method_name in methods:
            cls = method_class(method_name)
            incompatible = dataset_incompatibility(cls, dataset)
            for seed in seeds:
                splits = recarve_validation(dataset, int(seed)) if resample_valid else dataset
                params, used_preset, method_notes = resolve_method(
                    method_name, preset=preset, overrides=per_method[method_name], seed=int(seed),
                    threshold=threshold, device=device, cpu_only=cpu_only,
                )
                if used_preset == "cpu" and preset is None and method_name not in cpu_chosen and not incompatible:
                    cpu_chosen.append(method_name)
                job = Job(
                    method=method_name,
                    method_version=str(cls.version),
                    dataset=dataset_name,
                    dataset_params=dataset_params,
                    dataset_fingerprint=splits.fingerprint,
                    seed=int(seed),
                    params=params,
                    preset=used_preset,
                    overrides=dict(per_method[method_name]),
                    threshold_policy=threshold_policy(params),
                    notes=list(method_notes) + list(splits.notes),
                    dataset_file_fingerprint=splits.fingerprints["file"],
                    valid_seed=splits.valid_seed if resample_valid and splits.uncarved_train is not None else None,
                    incompatible=incompatible,
                )
                job.key = job_key(job)
                job.command = reproduce_command(job, device)
                jobs.append(job)
    if cpu_chosen:  # one line for the whole run, however many methods it concerns
        notes.append(
            f"no GPU found, so --device auto selected the 'cpu' preset of {', '.join(cpu_chosen)} "
            "(run with --preset paper for the paper configuration)"
        )
    return jobs, notes


def run(
    methods: Sequence[str],
    datasets: Sequence[str] = ("synthetic",),
    seeds: Sequence[int] = (0,),
    *,
    device: str = "auto",
    jobs: int = 1,
    results: str | os.PathLike = "./mmerbench-results",
    preset: str | None = None,
    settings: dict[str, Any] | None = None,
    threshold=None,
    resume: bool = True,
    dry_run: bool = False,
    on_event: Callable[[dict], None] | None = None,
    resample_valid: bool = False,
    protocols: Sequence[str] = (),
    save_models: bool = True,
    keep_checkpoints: bool = False,
    timeout_per_job: float | None = None,
    executor: ExecutorOptions | None = None,
) -> RunResult:
    """Plan and run a benchmark; the Python twin of ``mmerbench run``.

    ``protocols`` (``--protocol``) are robustness protocols evaluated on each
    fitted model; they are not part of the job key.
    """
    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {jobs}")
    protocols = [str(p) for p in protocols or ()]
    for protocol in protocols:
        parse_protocol(protocol)  # a bad spec stops the run before anything is trained
    timeout_per_job = check_timeout(timeout_per_job)
    executor = executor or ExecutorOptions()
    check_executor_options(executor, cuda_device_count())  # before anything is written
    planned, notes = plan(methods, datasets, seeds, preset=preset, settings=settings, threshold=threshold,
                          device=device, resample_valid=resample_valid)
    outcome = RunResult(planned=planned, notes=notes)
    emit = on_event or (lambda event: None)
    check_results_path(results)  # before a dry run could read ./results.sqlite for an empty --results
    if dry_run:  # a dry run creates nothing
        existing = Path(results, "results.sqlite").exists()
        store_context = ResultStore(results, create=False, read_only=True) if existing else _NoStore()
    else:
        store_context = ResultStore(results)
    with store_context as store:
        if not dry_run and executor.name != "local":  # jobs that ended while no driver was running
            collect_published(store, results)
        finished = store.finished_keys() if resume else set()
        outcome.incompatible = [job for job in planned if job.incompatible]
        todo = [job for job in planned if job.key not in finished and not job.incompatible]
        outcome.skipped = [job for job in planned if job.key in finished and not job.incompatible]
        emit({"kind": "plan", "planned": len(planned), "todo": len(todo), "skipped": len(outcome.skipped),
              "notes": notes, "incompatible": len(outcome.incompatible)})
        if protocols and outcome.skipped and not dry_run:
            # Finished jobs are not refitted: the conditions they lack run on their saved models.
            from mmerbench.evaluation.reevaluate import evaluate_finished

            outcome.evaluation = evaluate_finished(store, results, [store.get(job.key) for job in outcome.skipped],
                                                   protocols)
        if dry_run or not todo:
            return outcome
        context = {"versions": package_versions(), "git_revision": git_revision(), "host": platform.node(),
                   "protocols": protocols}
        _execute(todo, store, results, jobs, device, context, emit, outcome, save_models,
                 keep_checkpoints=keep_checkpoints, timeout=timeout_per_job, executor=executor)
    return outcome


class _NoStore:
    """Stands in for a store that does not exist yet during --dry-run (nothing is created)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def finished_keys(self) -> set[str]:
        return set()


def _execute(todo, store, results, workers, device, context, emit, outcome, save_models=True,
             keep_checkpoints=False, timeout=None, executor: ExecutorOptions | None = None) -> None:
    cores = os.cpu_count() or 1
    store.check_writable()  # a read-only or full store fails here, before any job runs
    workers = min(workers, len(todo))
    threads = max(1, cores // workers)
    gpus = cuda_device_count() if device == "auto" else 0
    spawn = multiprocessing.get_context("spawn")
    events = spawn.Queue()  # the workers report progress on it (passed at their creation)
    stop = threading.Event()
    pump = threading.Thread(target=_pump_events, args=(events, emit, stop), daemon=True)
    pump.start()

    def started(index: int) -> None:
        emit({"kind": "job-start", "job": todo[index].to_dict(), "index": index + 1, "total": len(todo)})

    # Each job runs in its own fresh process (local) or task (Ray, Slurm): a worker that dies fails only its job.
    executor = executor or ExecutorOptions()
    if executor.name != "local":  # a remote job gets the CPUs it asked for, not a share of this machine's
        threads = max(1, int(executor.cpus_per_job))
    pool = make_pool(executor, workers, todo, results, started, timeout, init_worker, (events,))
    function = run_job if executor.name == "local" else run_and_publish
    calls = [(index, function, (job.to_dict(), str(results), threads,
                                job_device(device, index, gpus, executor.gpus_per_job) if executor.name == "local"
                                else device,
                                {**context, "requested_device": device, "executor": executor.name}, save_models,
                                keep_checkpoints))
             for index, job in enumerate(todo)]
    if executor.detach:
        pool.submit(calls)
        outcome.notes.append(f"submitted {len(calls)} job(s) ({executor.name}, logs under {pool.folder}); follow "
                             f"them with `mmerbench status --results {results}` and gather them with "
                             f"`mmerbench collect --results {results}`")
        stop.set()
        return
    finished = pool.run(calls)
    try:
        for done, ended in enumerate(finished, start=1):
            job = todo[ended.tag]
            if ended.timed_out:
                record = timeout_record(job.to_dict(), context, timeout, results)
            else:
                record = ended.value if ended.returned else death_record(job.to_dict(), context, ended.exitcode,
                                                                         ended.child_error)
                if not ended.returned and executor.name != "local" and ended.child_error:
                    record["error"] = ended.child_error.splitlines()[0]  # Ray's or Slurm's own cause
            commit_or_stop(record, store, outcome.records)
            emit({"kind": "job-end", "record": record, "done": done, "total": len(todo)})
    finally:
        finished.close()  # terminates workers still running when the run stops early (Ctrl-C, store failure)
        remove_worker_temporaries(store.directory / "predictions", pool.started_pids)
        stop.set()
        pump.join(timeout=2)


def _pump_events(events, emit, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            event = events.get(timeout=0.2)
        except queue_module.Empty:
            continue
        except (EOFError, OSError, BrokenPipeError):
            return
        # The worker's own kind (e.g. "epoch") moves to "what"; the display sees a progress event.
        emit({**event, "what": event.get("kind"), "kind": "progress"})


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use `mmerbench run`")
