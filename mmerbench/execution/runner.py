"""Run jobs = methods x datasets x seeds, each in a fresh ``spawn`` worker.

The main process plans the jobs (resolving hyperparameters and dataset
fingerprints), skips those already finished in the store, runs the rest in a
process pool whose workers each run exactly one job, and writes each record to
the store as soon as it arrives. A failed job is recorded with its traceback
and the others go on; it is retried on the next run.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from mmerbench.api import load_dataset, method_class
from mmerbench.compatibility import dataset_incompatibility
from mmerbench.config import RunConfig
from mmerbench.data.protocol_specs import protocol_versions
from mmerbench.data.validation import recarve_validation
from mmerbench.errors import UnknownNameError, UsageError
from mmerbench.execution.executor_options import check_executor_options
from mmerbench.execution.gpu_count import cuda_device_count
from mmerbench.execution.job_claims import CLAIMED, release_dead
from mmerbench.execution.job_files import collect_published, discard_published
from mmerbench.execution.job_order import JobOrder
from mmerbench.execution.job_timings import stored_seconds
from mmerbench.execution.planning import (
    Job,
    check_dataset_params,
    job_key,
    job_run_options,
    parse_threshold,
    reproduce_command,
    resolve_method,
    split_settings,
    threshold_policy,
)
from mmerbench.execution.pools import engine_log, make_pool, pool_kind, warm_up
from mmerbench.execution.provenance import job_provenance, run_provenance
from mmerbench.execution.run_checks import (
    check_device,
    check_results_path,
    check_seeds,
    check_splits_for_evaluation,
)
from mmerbench.execution.timeouts import check_timeout, timeout_record
from mmerbench.execution.worker_death import death_record
from mmerbench.plugin_sources import plugin_sources
from mmerbench.plugins import get_registry
from mmerbench.spans import span
from mmerbench.store.failure import commit_or_stop, remove_worker_temporaries
from mmerbench.store.results import ResultStore


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
    threads: int = 1,
    precision: str = "fp32",
    compile: bool = False,
) -> tuple[list[Job], list[str]]:
    """Resolve every job of a run (loading each dataset once for its fingerprint)."""
    if not methods:
        raise UsageError("no methods given: use --methods a,b (see `mmerbench list methods`)")
    seeds = list(dict.fromkeys(check_seeds(seeds)))  # "0,0" is one seed: a job runs once
    methods = list(dict.fromkeys(methods))
    datasets = list(dict.fromkeys(datasets))
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
                    threads=int(threads),
                    dataset_version=registry.dataset(dataset_name).version,
                    run_options=job_run_options(cls, precision, compile),
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
    methods: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    *,
    dry_run: bool = False,
    on_event: Callable[[dict], None] | None = None,
    config: RunConfig | None = None,
    **settings: Any,
) -> RunResult:
    """Plan and run a benchmark; the Python twin of ``mmerbench run``.

    ``settings`` are the fields of :class:`mmerbench.config.RunConfig` (``jobs=2``, ``protocols=["missing"]``,
    ``settings={"lddu.use_queue": False}``, ``executor="ray"``, ...), checked as a ``--config`` file is;
    ``config`` is a whole configuration to start from. ``protocols`` are robustness protocols evaluated on
    each fitted model; they are not part of the job key.
    """
    given = {name: value for name, value in (("methods", methods), ("datasets", datasets), ("seeds", seeds))
             if value is not None}
    try:
        config = RunConfig.from_mapping({**given, **settings}, "mmerbench.run()", base=config)
    except UsageError as exc:
        unknown = sorted(set(settings) - set(RunConfig.keys()) - set(RunConfig.keys().values()))
        if unknown:  # a misspelt keyword is a TypeError, as for any Python function
            raise TypeError(f"run() got unexpected keyword argument(s) {unknown}") from exc
        raise
    return run_config(config, dry_run=dry_run, on_event=on_event)


def run_config(config: RunConfig, *, dry_run: bool = False, on_event: Callable[[dict], None] | None = None
               ) -> RunResult:
    """Plan and run the jobs of one :class:`RunConfig`."""
    config = config.checked()
    specs = config.protocol_specs()  # parsed once: a bad spec stops the run before anything is trained
    timeout = check_timeout(config.timeout_per_job)
    check_executor_options(config, cuda_device_count())  # before anything is written
    if not dry_run:
        with span("driver: warm up (start the server)"):
            warm_up(config)  # the local pool's warm server loads its imports while the run is planned
    with span("driver: plan"):
        planned, notes = plan(config.methods, config.datasets, config.seeds, preset=config.preset,
                          settings=config.settings, threshold=config.threshold, device=config.device,
                          resample_valid=config.resample_valid, threads=config.threads,
                          precision=config.precision, compile=config.compile)
    with span("driver: run planned jobs"):
        return run_planned(config, planned, notes, specs, timeout, dry_run=dry_run, on_event=on_event)


def run_planned(config: RunConfig, planned: list[Job], notes: list[str], specs=None, timeout=None, *,
                dry_run: bool = False, on_event: Callable[[dict], None] | None = None) -> RunResult:
    """Run jobs already planned (``mmerbench tune`` plans its trials itself) under ``config``'s settings:
    finished keys are skipped, the rest run through ``config``'s executor and are stored."""
    if specs is None:  # called directly: the checks run_config made before planning
        config = config.checked()
        specs = config.protocol_specs()
        timeout = check_timeout(config.timeout_per_job)
        check_executor_options(config, cuda_device_count())
    outcome = RunResult(planned=planned, notes=notes)
    emit = on_event or (lambda event: None)
    results = config.results
    check_results_path(results)  # before a dry run could read ./results.sqlite for an empty --results
    if dry_run:  # a dry run creates nothing
        existing = Path(results, "results.sqlite").exists()
        store_context = ResultStore(results, create=False, read_only=True) if existing else _NoStore()
    else:
        store_context = ResultStore(results)
    kind = pool_kind(config)
    with store_context as store:
        if not dry_run and kind.collects_finished:  # jobs that ended while no driver was running
            gathered = collect_published(store, results)
            notes.extend(f"not collected: {line}" for line in gathered.refused)
        stored_ok = store.finished_keys()
        finished = set(stored_ok) if config.resume else set()
        finished -= _other_thread_count(store, planned, finished, notes)
        outcome.incompatible = [job for job in planned if job.incompatible]
        todo = [job for job in planned if job.key not in finished and not job.incompatible]
        outcome.skipped = [job for job in planned if job.key in finished and not job.incompatible]
        log = engine_log(config, results)
        if log is not None and todo and not dry_run:  # said before the engine starts and prints its banners
            notes.append(f"--executor {config.executor}: its own messages (start-up banners, warnings) go to {log}")
        crowded = kind.oversubscribed(config, min(config.jobs, len(todo)), os.cpu_count() or 1)
        if crowded and todo:
            notes.append(crowded)
        emit({"kind": "plan", "planned": len(planned), "todo": len(todo), "skipped": len(outcome.skipped),
              "notes": notes, "incompatible": len(outcome.incompatible),
              # what the run's estimate needs: the jobs to run, at once how many, how long such jobs took before
              "jobs": [{"method": j.method, "preset": j.preset, "dataset": j.dataset, "seed": j.seed} for j in todo],
              "slots": max(1, min(config.jobs, len(todo))),
              "stored_seconds": stored_seconds(store, todo) if isinstance(store, ResultStore) else {}})
        if specs and outcome.skipped and not dry_run:
            # Finished jobs are not refitted: the conditions they lack run on their saved models.
            from mmerbench.execution.reevaluate import evaluate_finished

            outcome.evaluation = evaluate_finished(store, results, [store.get(job.key) for job in outcome.skipped],
                                                   specs)
        if dry_run or not todo:
            return outcome
        with span("driver: provenance"):
            provenance = run_provenance(config.device, config.executor)
        provenance["protocol_versions"] = protocol_versions(specs)
        with span("driver: plugin sources"):
            sources = plugin_sources(get_registry(), config.methods, config.datasets)
        provenance["plugin_sources"] = sources  # cut to each job's method and dataset in _execute
        reruns = {job.key for job in todo if job.key in stored_ok}  # --no-resume or another thread count
        _execute(todo, store, replace(config, timeout_per_job=timeout), specs, provenance, emit, outcome, reruns)
    return outcome


def _other_thread_count(store, planned: list[Job], finished: set[str], notes: list[str]) -> set[str]:
    """Finished keys whose record was computed with another thread count than planned.

    The default (1 thread) is not keyed, so that keys made before ``--threads`` existed stay valid; a record
    from then says how many threads it really had (an older default gave each job cores / --jobs), and such a
    job is run again rather than mixed with 1-thread results.
    """
    stale = set()
    for job in planned:
        if job.key in finished:
            recorded = (store.get(job.key) or {}).get("threads")
            if isinstance(recorded, int) and recorded != job.threads:
                stale.add(job.key)
    if stale:
        notes.append(f"{len(stale)} finished job(s) were computed with another thread count than --threads "
                     f"{planned[0].threads}; they run again (a deep method's numbers depend on it)")
    return stale


class _NoStore:
    """Stands in for a store that does not exist yet during --dry-run (nothing is created)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def finished_keys(self) -> set[str]:
        return set()


def _execute(todo: list[Job], store, config: RunConfig, specs, provenance: dict, emit, outcome: RunResult,
             reruns: set[str] = frozenset()) -> None:
    results, timeout = config.results, config.timeout_per_job
    store.check_writable()  # a read-only or full store fails here, before any job runs
    store.plan([job.key for job in todo], reruns)  # what `collect` later knows as planned (and re-runs)
    if reruns:
        from mmerbench.execution.checkpoints import discard_checkpoints

        for key in reruns:  # a forced re-run trains afresh, and an old published record is not its result
            discard_checkpoints(results, key)
            discard_published(results, key)
    workers = min(config.jobs, len(todo))
    kind = pool_kind(config)
    threads = kind.threads_per_job(config)
    gpus = cuda_device_count() if config.device == "auto" else 0
    def started(index: int) -> None:
        emit({"kind": "job-start", "job": todo[index].to_dict(), "index": index + 1, "total": len(todo)})

    # Each job runs in its own fresh process (local) or task (Ray, Slurm): a worker that dies fails only its job.
    datasets = list({(job.dataset, json.dumps(job.dataset_params, sort_keys=True)): (job.dataset, job.dataset_params)
                     for job in todo}.values())
    pool = make_pool(config, workers, [job.key for job in todo], results, started, timeout, on_event=_progress(emit),
                     datasets=datasets)
    protocols = [spec.text for spec in specs]  # with the provenance: what every record of the run says

    def recorded(job: Job) -> dict:
        return {**job_provenance(provenance, job), "protocols": protocols}

    calls = [(index, kind.job_function, (JobOrder(
        job=job.to_dict(), results_dir=str(results), threads=threads, device=kind.device_of(config, index, gpus),
        protocols=tuple(specs), save_models=config.save_models, keep_checkpoints=config.keep_checkpoints,
        provenance=job_provenance(provenance, job), rerun=job.key in reruns),)) for index, job in enumerate(todo)]
    if config.detach:
        pool.submit(calls)
        outcome.notes.append(f"submitted {len(calls)} job(s) ({config.executor}, logs under {pool.folder}); follow "
                             f"them with `mmerbench status --results {results}` and gather them with "
                             f"`mmerbench collect --results {results}`")
        return
    finished = pool.run(calls)
    try:
        for done, ended in enumerate(finished, start=1):
            job = todo[ended.tag]
            if ended.timed_out:
                record = timeout_record(job.to_dict(), recorded(job), timeout, results)
            else:
                record = ended.value if ended.returned else death_record(job.to_dict(), recorded(job), ended.exitcode,
                                                                         ended.child_error)
                cause = None if ended.returned else kind.failure_cause(ended)
                if cause:
                    record["error"] = cause
            if record.get("status") == CLAIMED:  # another run holds (or finished) this job: it stores it
                outcome.notes.append(record["error"])
                emit({"kind": "job-end", "record": record, "done": done, "total": len(todo)})
                continue
            record.pop("origin", None)  # this run's own job
            # An ok row stored meanwhile by a concurrent run stays, unless this run planned the re-run.
            with span("driver: store commit"):
                commit_or_stop(record, store, outcome.records, keep_ok=job.key not in reruns)
            with span("driver: job-end event (display)"):
                emit({"kind": "job-end", "record": record, "done": done, "total": len(todo)})
    finally:
        with span("driver: end of run (clean-up)"):
            finished.close()  # terminates workers still running when the run stops early (Ctrl-C, store failure)
            remove_worker_temporaries(store.directory / "predictions", pool.started_pids)
            release_dead(results, [job.key for job in todo])  # claims of workers stopped with the run


def _progress(emit: Callable[[dict], None]) -> Callable[[Any, dict], None]:
    """The pool's ``on_event``: a job's progress event (sent on its own pipe) shown as the run's progress."""
    def on_event(tag, event: dict) -> None:
        # The worker's own kind (e.g. "epoch") moves to "what"; the display sees a progress event.
        emit({**event, "what": event.get("kind"), "kind": "progress"})

    return on_event


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use `mmerbench run`")
