"""A search resumes from the store: finished trials are not run again, and it chooses what an uninterrupted one does."""

from __future__ import annotations

import pytest

from mmerbench.store.results import ResultStore
from mmerbench.tuning.settings import TuneSettings

pytestmark = pytest.mark.slow

SETTINGS = TuneSettings(trials=4, sampler="tpe", sampler_seed=0, pruner="none")


def _trials(records):
    return sorted((r["key"], r["status"]) for r in records if (r.get("tuning") or {}).get("role") == "trial")


def test_a_search_stopped_half_way_and_a_lost_trial_resume_without_repeating_finished_trials(tune_in, tmp_path):
    whole, whole_records = tune_in("whole", ["br"], ["tiny"], SETTINGS)

    # Half the budget, then a trial lost as a kill mid-job loses it (no record), then the whole budget again.
    tune_in("resumed", ["br"], ["tiny"], TuneSettings(trials=2, sampler="tpe", sampler_seed=0, pruner="none"))
    results = tmp_path / "resumed"
    with ResultStore(results) as store:
        first_two = [r for r in store.records() if (r.get("tuning") or {}).get("role") == "trial"]
        lost = max(first_two, key=lambda r: r["finished_at"])
        store._connection.execute("DELETE FROM jobs WHERE key = ?", (lost["key"],))
        store._connection.commit()
    resumed, resumed_records = tune_in("resumed", ["br"], ["tiny"], SETTINGS)

    (study,) = resumed.studies
    assert study.ran == 3, "only the lost trial and the two not yet asked may run again"
    assert [t["params"] for t in study.trials] == [t["params"] for t in whole.studies[0].trials]
    assert study.best == whole.studies[0].best
    assert len(_trials(resumed_records)) == len(_trials(whole_records)) == 4
    def tuned_keys(records):  # the half-budget run's own tuned rows (tuned 2) stay beside them
        return sorted(r["key"] for r in records if (r.get("tuning") or {}).get("role") == "tuned"
                      and r["tuning"]["trials"] == 4)

    assert tuned_keys(resumed_records) == tuned_keys(whole_records) != []

    again, _ = tune_in("resumed", ["br"], ["tiny"], SETTINGS)
    assert again.studies[0].ran == 0  # everything finished: nothing runs, the same choice
    assert again.studies[0].best == whole.studies[0].best


def test_a_failed_trial_is_a_failed_trial_not_a_crash_and_is_not_retried(tune_in):
    outcome, records = tune_in("failing", ["failing"], ["tiny"],
                               TuneSettings(trials=2, sampler="random", sampler_seed=0, pruner="none"))
    (study,) = outcome.studies
    assert [t["state"] for t in study.trials] == ["failed", "failed"]
    assert study.best is None and any("no trial finished" in note for note in outcome.notes)
    again, _ = tune_in("failing", ["failing"], ["tiny"],
                       TuneSettings(trials=2, sampler="random", sampler_seed=0, pruner="none"))
    assert again.studies[0].ran == 0
