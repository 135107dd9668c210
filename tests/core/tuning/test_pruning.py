"""Median pruning stops hopeless deep trials early, records the epoch, and does not change the winner."""

from __future__ import annotations

import pytest

from mmerbench.execution.pruning import EpochPruner, TrialPruned, pruning_context
from mmerbench.tuning import search
from mmerbench.tuning.settings import TuneSettings


def test_the_pruner_stops_a_trial_below_the_median_of_earlier_trials_at_the_same_epoch():
    earlier = [{1: 0.5, 2: 0.6, 3: 0.7}, {1: 0.4, 2: 0.5, 3: 0.6}, {1: 0.45, 2: 0.55, 3: 0.65}]
    context = pruning_context("median", earlier, n_startup_trials=3, n_warmup_steps=1)
    good = EpochPruner(context)
    for epoch, score in ((1, 0.1), (2, 0.58), (3, 0.69)):  # epoch 1 is warm-up: never judged
        good.observe({"kind": "epoch", "epoch": epoch, "valid_mif1": score})
    bad = EpochPruner(context)
    bad.observe({"kind": "epoch", "epoch": 1, "valid_mif1": 0.1})
    with pytest.raises(TrialPruned) as stopped:
        bad.observe({"kind": "epoch", "epoch": 2, "valid_mif1": 0.3})
    assert stopped.value.epoch == 2
    assert pruning_context("none", earlier) is None


@pytest.mark.slow
def test_pruning_saves_epochs_records_where_it_stopped_and_keeps_the_known_winner(tune_in, monkeypatch):
    # Prune early in this short search (the defaults wait for five finished trials and two epochs).
    monkeypatch.setattr(search, "PRUNE_AFTER_TRIALS", 2)
    monkeypatch.setattr(search, "PRUNE_AFTER_EPOCHS", 0)
    # The random sampler asks the same configurations whatever the pruner did, so both searches see the same
    # candidates; the highest skill sampled must win both.
    # A fixed threshold and 200 validation samples make the oracle's score rise strictly with its skill.
    common = dict(trials=6, sampler="random", sampler_seed=3)
    data = dict(threshold="0.5", settings={"tiny.n_valid": 200})
    pruned, pruned_records = tune_in("pruned", ["curve-oracle"], ["tiny"], TuneSettings(pruner="median", **common),
                                     **data)
    full, full_records = tune_in("full", ["curve-oracle"], ["tiny"], TuneSettings(pruner="none", **common), **data)

    (with_pruning,), (without,) = pruned.studies, full.studies
    assert [t["params"] for t in with_pruning.trials] == [t["params"] for t in without.trials]
    highest = max(t["params"]["skill"] for t in without.trials)
    assert without.best == with_pruning.best == {"skill": highest}

    stopped = [r for r in pruned_records if r["status"] == "pruned"]
    assert stopped, "no trial was pruned"
    assert all(r["pruned_epoch"] < 5 and len(r["curve"]) == r["pruned_epoch"] for r in stopped)

    def trial_records(records):  # one per distinct configuration: a repeated one shares its key and record
        return [r for r in records if (r.get("tuning") or {}).get("role") == "trial"]

    def epochs(records):
        return sum(len(r["curve"]) for r in trial_records(records))

    assert epochs(pruned_records) < epochs(full_records) == 5 * len(trial_records(full_records))
