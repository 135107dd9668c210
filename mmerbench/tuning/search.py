"""The search: for each method x dataset, rounds of trials asked of Optuna, run as jobs, told back;
then the best configuration over every requested seed.

Resuming needs no database of Optuna's: every run rebuilds each study by replaying it against the
results store. The sampler is seeded, so the same rounds ask the same configurations again; a trial
whose record is in the store (scored, pruned or failed) is told from that record instead of being run,
and the search goes on from the first trial the store does not have. A killed search therefore
repeats nothing it finished, and its trials and choice are the ones an uninterrupted search makes.
The store is the one source of truth; a second file could disagree with it after a kill.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable

from mmerbench.api import method_class
from mmerbench.config import RunConfig
from mmerbench.errors import UsageError
from mmerbench.execution.planning import Job
from mmerbench.execution.pruning import pruning_context
from mmerbench.execution.gpu_count import cuda_device_count
from mmerbench.execution.runner import plan, run_planned
from mmerbench.search_spaces import method_space, space_key
from mmerbench.store.results import ResultStore
from mmerbench.tuning.optuna_space import new_study, optuna_distributions
from mmerbench.tuning.settings import TuneSettings
from mmerbench.tuning.trials import (
    study_id,
    trial_curve,
    trial_finished,
    trial_job,
    trial_value,
    tuned_job,
)

# Optuna's MedianPruner settings (mmerbench.execution.pruning.pruning_context): no pruning before five
# trials have finished, nor in a trial's first two epochs.
PRUNE_AFTER_TRIALS = 5
PRUNE_AFTER_EPOCHS = 2


@dataclass
class StudyOutcome:
    """One method x dataset search: its trials (number, params, state, value, key) and its choice."""

    method: str
    dataset: str
    study: str
    space_name: str
    space: dict
    trials: list[dict] = field(default_factory=list)
    best: dict[str, Any] | None = None
    best_value: float | None = None
    tuned: list[Job] = field(default_factory=list)
    ran: int = 0  # trials run by this call (the others came from the store)


@dataclass
class TuneResult:
    studies: list[StudyOutcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)  # tuned jobs that failed


def tune(config: RunConfig, settings: TuneSettings, *, on_event: Callable[[dict], None] | None = None
         ) -> TuneResult:
    """Search every method of ``config`` on every dataset under ``settings``' budget, then run the chosen
    configuration on every seed of ``config``. Trials use the first seed and are scored on validation."""
    config, settings = config.checked(), settings.checked()
    if config.detach:
        raise UsageError("mmerbench tune cannot --detach: each round of trials is asked of the sampler once the "
                         "previous round's scores are in; run it attached (any executor, a Slurm array included)")
    emit = on_event or (lambda event: None)
    _check_optuna()
    trial_seed = int(config.seeds[0])
    bases, notes = plan(config.methods, config.datasets, [trial_seed], preset=config.preset,
                        settings=config.settings, threshold=config.threshold, device=config.device,
                        resample_valid=config.resample_valid)
    result = TuneResult(notes=list(notes))
    resolution = {"preset": config.preset, "threshold": config.threshold, "device": config.device,
                  "cpu_only": cuda_device_count() == 0}
    # Trials: no robustness protocols, no saved models; only their validation scores and curves are kept.
    trial_config = replace(config, protocols=[], save_models=False, keep_checkpoints=False, resume=True,
                           detach=False)
    for base in bases:
        if base.incompatible:
            result.notes.append(f"{base.method} cannot run on {base.dataset} ({base.incompatible}): not tuned")
            continue
        outcome = _search(base, settings, trial_config, resolution, emit)
        result.studies.append(outcome)
        if outcome.best is None:
            result.notes.append(f"{base.method} on {base.dataset}: no trial finished with a score, so there is "
                                "no tuned configuration (see `mmerbench results` for the failed trials)")
            continue
        outcome.tuned = [tuned_job(base, outcome.best, int(seed), outcome.study, settings, outcome.space_name,
                                   max(1, int(config.jobs)), **resolution) for seed in config.seeds]
        emit({"kind": "tune-final", "method": base.method, "dataset": base.dataset, "best": outcome.best,
              "best_value": outcome.best_value, "seeds": list(config.seeds)})
        ran = run_planned(config, outcome.tuned, [], on_event=emit)
        result.failed += ran.failed
    return result


def _check_optuna() -> None:
    try:
        import optuna  # noqa: F401
    except ImportError:  # pragma: no cover - a dependency, but say what to do if it is missing
        raise UsageError("mmerbench tune needs Optuna: pip install optuna") from None


def _search(base: Job, settings: TuneSettings, trial_config: RunConfig, resolution: dict, emit) -> StudyOutcome:
    import optuna

    space_name = space_key(base.preset)
    space = method_space(method_class(base.method), base.preset)
    round_size = max(1, int(trial_config.jobs))
    sid = study_id(base, space_name, space, settings, round_size)
    outcome = StudyOutcome(base.method, base.dataset, sid, space_name, space)
    distributions = optuna_distributions(space)
    study = new_study(settings.sampler, settings.sampler_seed)
    finished_curves: list[dict[int, float]] = []  # of the scored trials, in the order they were told
    while len(outcome.trials) < settings.trials:
        asked = [study.ask(distributions) for _ in range(min(round_size, settings.trials - len(outcome.trials)))]
        pruning = (pruning_context(settings.pruner, finished_curves, n_startup_trials=PRUNE_AFTER_TRIALS,
                                   n_warmup_steps=PRUNE_AFTER_EPOCHS)
                   if len(finished_curves) >= PRUNE_AFTER_TRIALS else None)
        jobs = [trial_job(base, trial.params, sid, trial.number, pruning=pruning, **resolution) for trial in asked]
        records = _stored(trial_config.results, jobs)
        todo = list({job.key: job for job in jobs if not trial_finished(records.get(job.key))}.values())
        if todo:
            run_planned(trial_config, todo, [], on_event=emit)
            outcome.ran += len(todo)
            records = _stored(trial_config.results, jobs)
        for trial, job in zip(asked, jobs):
            record = records.get(job.key)
            if record is None:  # the runner stopped before storing it (e.g. interrupted): stop here too
                raise UsageError(f"trial {trial.number} of {base.method} on {base.dataset} ({job.key}) has no "
                                 "record in the store; run `mmerbench tune` again to resume")
            state, value = _tell(study, trial, record)
            if state == "complete":
                finished_curves.append(trial_curve(record))
            outcome.trials.append({"number": trial.number, "params": dict(trial.params), "state": state,
                                   "value": value, "key": job.key, "pruned_epoch": record.get("pruned_epoch")})
        complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        best = max((t.value for t in complete), default=None)
        emit({"kind": "tune-round", "method": base.method, "dataset": base.dataset, "done": len(outcome.trials),
              "trials": settings.trials, "best_value": best, "ran": len(todo)})
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if complete:
        outcome.best, outcome.best_value = dict(study.best_trial.params), float(study.best_value)
    return outcome


def _tell(study, trial, record: dict) -> tuple[str, float | None]:
    """Tell Optuna how a trial ended, from its stored record: scored, pruned, or failed (a failure, an
    invalid probability, a NaN score or a timeout is a failed trial, never a crash of the search)."""
    from optuna.trial import TrialState

    for epoch, score in sorted(trial_curve(record).items()):
        trial.report(score, epoch)
    value = trial_value(record)
    if value is not None:
        study.tell(trial, value)
        return "complete", value
    if record.get("status") == "pruned":
        study.tell(trial, state=TrialState.PRUNED)
        return "pruned", None
    study.tell(trial, state=TrialState.FAIL)
    return "failed", None


def _stored(results, jobs: list[Job]) -> dict[str, dict]:
    from pathlib import Path

    if not Path(results, "results.sqlite").exists():
        return {}
    with ResultStore(results, create=False, read_only=True) as store:
        return {job.key: record for job in jobs if (record := store.get(job.key)) is not None}
