"""``mmerbench tune --dry-run``: the plan (methods x datasets x trials, each search space), what the
store already holds, and the cost estimated from stored timings of the same method on the same data."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

from mmerbench.api import method_class
from mmerbench.config import RunConfig
from mmerbench.execution.runner import plan
from mmerbench.search_spaces import method_space, space_key
from mmerbench.store.results import ResultStore
from mmerbench.tuning.settings import TuneSettings
from mmerbench.tuning.trials import study_id


@dataclass
class PlannedSearch:
    method: str
    dataset: str
    preset: str | None
    space_name: str
    space: dict
    study: str
    trials_done: int
    jobs_left: int  # trials not in the store, plus the tuned configuration on every seed
    seconds_per_job: float | None  # median stored fit + predict seconds of this method on this dataset
    incompatible: str | None = None

    @property
    def estimate(self) -> float | None:
        return None if self.seconds_per_job is None else self.seconds_per_job * self.jobs_left


@dataclass
class TunePlan:
    searches: list[PlannedSearch] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def plan_tuning(config: RunConfig, settings: TuneSettings) -> TunePlan:
    config, settings = config.checked(), settings.checked()
    bases, notes = plan(config.methods, config.datasets, [int(config.seeds[0])], preset=config.preset,
                        settings=config.settings, threshold=config.threshold, device=config.device,
                        resample_valid=config.resample_valid)
    records = _records(config.results)
    result = TunePlan(notes=list(notes))
    for base in bases:
        space_name = space_key(base.preset)
        space = {} if base.incompatible else method_space(method_class(base.method), base.preset)
        sid = study_id(base, space_name, space, settings, max(1, config.jobs))
        done = sum(1 for r in records if (r.get("tuning") or {}).get("study") == sid
                   and (r.get("tuning") or {}).get("role") == "trial")
        timings = [float(r.get("fit_seconds") or 0) + float(r.get("predict_seconds") or 0) for r in records
                   if r.get("method") == base.method and r.get("dataset") == base.dataset
                   and r.get("status") in ("ok", "trial") and r.get("fit_seconds") is not None]
        result.searches.append(PlannedSearch(
            base.method, base.dataset, base.preset, space_name, space, sid, min(done, settings.trials),
            max(settings.trials - done, 0) + len(config.seeds),
            statistics.median(timings) if timings else None, base.incompatible))
    return result


def _records(results) -> list[dict]:
    if not Path(results, "results.sqlite").exists():
        return []
    with ResultStore(results, create=False, read_only=True) as store:
        return store.records()
