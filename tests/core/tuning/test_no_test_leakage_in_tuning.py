"""Tuning never looks at the test split: permuting the test labels changes no trial's score and not the choice."""

from __future__ import annotations

import pytest

from mmerbench.tuning.settings import TuneSettings

pytestmark = pytest.mark.slow

SETTINGS = TuneSettings(trials=4, sampler="tpe", sampler_seed=0, pruner="none")


def _trial_scores(outcome):
    (study,) = outcome.studies
    return [(t["params"], t["value"]) for t in study.trials]


def test_permuting_the_test_labels_changes_neither_the_trials_nor_the_chosen_configuration(tune_in):
    plain, plain_records = tune_in("plain", ["br"], ["tiny"], SETTINGS)
    shuffled, shuffled_records = tune_in("shuffled", ["br"], ["tiny-shuffled-test"], SETTINGS)

    assert _trial_scores(plain) == _trial_scores(shuffled)
    assert plain.studies[0].best == shuffled.studies[0].best
    trials = [r for r in plain_records + shuffled_records if (r.get("tuning") or {}).get("role") == "trial"]
    assert trials and all(set(r["metrics"]) == {"valid"} for r in trials), "a trial scored more than validation"
    # The tuned rows do see the shuffled test labels (they are the table's test scores): the data differ.
    tuned = {r["dataset"]: r["metrics"]["test"]["mif1"] for r in plain_records + shuffled_records
             if (r.get("tuning") or {}).get("role") == "tuned"}
    assert tuned["tiny"] != tuned["tiny-shuffled-test"]
