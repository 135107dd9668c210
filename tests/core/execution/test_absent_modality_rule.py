"""One rule for an absent modality, applied by every protocol to every built-in method's ``requires``:
a method is scored on a condition exactly when no sample of it can lose a modality the method requires,
and every method scored on a condition sees the same inputs (paired)."""

from __future__ import annotations

import numpy as np
import pytest

from mmerbench.api import method_class
from mmerbench.data.conditions import ConditionBuilder, conditions, removable
from mmerbench.execution.protocols import evaluate_conditions
from mmerbench.plugins import get_registry
from mmerbench.testing.fixtures import make_tiny_dataset
from mmerbench_methods.prior.method import LabelPrior

MODALITIES = ("text", "audio", "vision")
PROTOCOLS = ["missing", "missing-modality:text", "missing-modality:audio,vision", "missing-rate:0.3",
             "missing-rate:0.3@seeds=2", "missing-rate:audio=0.3,vision=0.3", "missing-rate:text=0.5,audio=0.1",
             "noise:1"]
BUILTINS = sorted(name for name, spec in get_registry().methods.items() if spec.origin.startswith("mmerbench_methods."))


@pytest.fixture(scope="module")
def dataset():
    return make_tiny_dataset(n_train=60, n_valid=20, n_test=60, seed=3)


class Recording(LabelPrior):
    """The label prior, with some method's ``requires``, remembering the lengths of every split it predicts."""

    def _predict_proba(self, split):
        self.seen.append({m: np.asarray(v).copy() for m, v in split.lengths.items()})
        return super()._predict_proba(split)


def stand_in(name: str, requires: dict, dataset):
    method = type(f"StandIn_{name}", (Recording,), {"name": name, "requires": requires})()
    method.seen = []
    method.fit(dataset.train, dataset.valid)
    method.seen.clear()  # what fitting predicted (valid, for the threshold) is not a condition
    return method


def test_the_builtins_include_methods_that_require_a_modality():
    required = {name: method_class(name).requires.get("modalities") for name in BUILTINS}
    assert {"sgm", "lsan", "raven", "lsgmer"} <= {name for name, modalities in required.items() if modalities}


@pytest.mark.parametrize("name", BUILTINS)
def test_every_protocol_scores_a_builtin_exactly_where_its_required_modalities_stay(name, dataset):
    requires = dict(method_class(name).requires)
    required = set(requires.get("modalities") or ())
    method = stand_in(name, requires, dataset)
    result = evaluate_conditions(method, dataset, PROTOCOLS, seed=0)
    builder = ConditionBuilder(dataset, seed=0)
    for condition in conditions(PROTOCOLS, MODALITIES):
        can_remove = required & set(removable(condition, MODALITIES))
        if can_remove:
            assert condition.name in result.errors and condition.name not in result.metrics, condition.name
            assert f"requires modality {', '.join(sorted(can_remove))}" in result.errors[condition.name]
            # and the data says why: some sample of the condition has lost a required modality
            lost = [m for p in range(condition.pattern_seeds) for m in can_remove
                    if (np.asarray(builder.split(condition, p).lengths[m]) == 0).any()]
            assert lost, f"{condition.name} was refused for {name} but removes none of {sorted(can_remove)}"
        else:
            assert condition.name in result.metrics, f"{condition.name}: {result.errors.get(condition.name)}"
    # whatever the method was scored on had every required modality in every sample
    for lengths in method.seen:
        for m in required:
            assert (lengths[m] > 0).all(), f"{name} was scored on samples without {m}"


def test_methods_scored_on_a_condition_see_the_same_inputs(dataset):
    text_only = stand_in("text-only", {"modalities": ("text",)}, dataset)
    every = stand_in("every-modality", {}, dataset)
    protocols = ["missing-rate:audio=0.3,vision=0.3@seeds=2", "missing-modality:audio"]
    for method in (text_only, every):
        evaluate_conditions(method, dataset, protocols, seed=7)
    assert len(text_only.seen) == len(every.seen) == 3
    for mine, theirs in zip(text_only.seen, every.seen):
        for m in MODALITIES:
            np.testing.assert_array_equal(mine[m], theirs[m])
