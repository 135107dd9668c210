"""A search's jobs: the study id, a trial's job, a tuned job, and what a trial record says.

A trial is an ordinary job whose overrides are the sampled values on top of the method's preset (and
the user's ``--set``), with ``tuning = {"role": "trial", "study": id}`` in its key so that it never
shares a key with a benchmark row. The chosen configuration then runs as ``role: tuned`` jobs, one per
seed; those are the leaderboard's ``m (cpu, tuned N)`` rows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Any

from mmerbench.execution.planning import Job, job_key, parse_threshold, reproduce_command, resolve_method
from mmerbench.execution.trial_job import PRUNED_STATUS, TRIAL_STATUS
from mmerbench.search_spaces import overrides_from_sample
from mmerbench.tuning.settings import TuneSettings

OBJECTIVE = "mif1"  # validation miF1 (after the validation-chosen threshold), the loop's own selection score


def study_id(base: Job, space_name: str, space: dict, settings: TuneSettings, round_size: int) -> str:
    """Everything that fixes the sequence of trials: the job asked about (method, version, preset, data,
    the trial seed), the space, the sampler and its seed, the pruner, and how many trials run per round
    (the sampler sees the results of earlier rounds only). The trial count is not part of it: a larger
    budget continues the same search."""
    keyed = {
        "method": base.method, "method_version": base.method_version, "preset": base.preset,
        "overrides": base.overrides, "dataset": base.dataset, "dataset_params": base.dataset_params,
        "dataset_fingerprint": base.dataset_fingerprint, "seed": base.seed,
        "threshold_policy": base.threshold_policy, "space_name": space_name,
        "space": {name: repr(distribution) for name, distribution in sorted(space.items())},
        "sampler": settings.sampler, "sampler_seed": settings.sampler_seed, "pruner": settings.pruner,
        "round_size": round_size,
    }
    return hashlib.sha256(json.dumps(keyed, sort_keys=True, default=repr).encode()).hexdigest()[:16]


def _with_overrides(base: Job, sampled: dict[str, Any], seed: int, *, preset, threshold, device: str,
                    cpu_only: bool, tuning: dict, pruning: dict | None = None) -> Job:
    tuned = overrides_from_sample(sampled, base.params)
    overrides = {**base.overrides, **tuned}
    params, _, _ = resolve_method(base.method, preset=preset, overrides=overrides, seed=seed,
                                  threshold=parse_threshold(threshold), device=device, cpu_only=cpu_only)
    job = replace(base, seed=seed, params=params, overrides=overrides, tuning=tuning, pruning=pruning,
                  notes=list(base.notes))
    job.key = job_key(job)
    job.command = reproduce_command(job, device)
    return job


def trial_job(base: Job, sampled: dict[str, Any], study: str, number: int, *, preset, threshold, device: str,
              cpu_only: bool, pruning: dict | None) -> Job:
    """Trial ``number`` of ``study``: the sampled values on the base job's seed."""
    job = _with_overrides(base, sampled, base.seed, preset=preset, threshold=threshold, device=device,
                          cpu_only=cpu_only, tuning={"role": "trial", "study": study}, pruning=pruning)
    job.notes.append(f"trial {number} of search {study}")
    return job


def tuned_job(base: Job, best: dict[str, Any], seed: int, study: str, settings: TuneSettings, space_name: str,
              round_size: int, *, preset, threshold, device: str, cpu_only: bool) -> Job:
    """The chosen configuration on one seed; its ``tuning`` names the budget and search that chose it."""
    tuning = {"role": "tuned", "study": study, "trials": settings.trials, "sampler": settings.sampler,
              "sampler_seed": settings.sampler_seed, "pruner": settings.pruner, "space": space_name,
              "round_size": round_size, "params": dict(sorted(best.items()))}
    return _with_overrides(base, best, seed, preset=preset, threshold=threshold, device=device,
                           cpu_only=cpu_only, tuning=tuning)


def trial_finished(record: dict | None) -> bool:
    """A trial that ended (scored, pruned or failed) is not run again: a search resumes from it."""
    return record is not None and record.get("status") in (TRIAL_STATUS, PRUNED_STATUS, "failed", "timeout")


def trial_curve(record: dict) -> dict[int, float]:
    """Epoch -> validation miF1 of a trial (empty for a method without epochs)."""
    return {int(row["epoch"]): float(row["valid_mif1"]) for row in record.get("curve") or []
            if row.get("valid_mif1") is not None and row.get("epoch") is not None}


def trial_value(record: dict) -> float | None:
    """The objective of a scored trial: validation miF1; None when it has none (failed, pruned)."""
    if record.get("status") != TRIAL_STATUS:
        return None
    value = ((record.get("metrics") or {}).get("valid") or {}).get(OBJECTIVE)
    if not isinstance(value, (int, float)) or value != value:  # NaN counts as failed
        return None
    return float(value)
