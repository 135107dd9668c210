"""LSGMER and MCUR learn: with their cpu presets on small synthetic data they beat the label prior
by at least 0.05 -- test miF1 on `synthetic` (multi-label), single_acc on `synthetic-single`."""

from __future__ import annotations

import numpy as np
import pytest

import mmerbench
from mmerbench.api import make_method
from mmerbench.evaluation.metrics import score

SIZES = dict(n_train=300, n_valid=100, n_test=200, steps=8, cue_strength=10.0)
SCORE = {"synthetic": "mif1", "synthetic-single": "single_acc"}


@pytest.fixture(scope="module", params=sorted(SCORE))
def small(request):
    return mmerbench.load_dataset(request.param, **SIZES)


def test_score(method, dataset) -> float:
    predictions = method.fit(dataset.train, dataset.valid).predict(dataset.test)
    scores = score(np.asarray(dataset.test.labels), predictions, single_label=dataset.single_label)
    return scores[SCORE[dataset.name]]


test_score.__test__ = False  # a helper, not a test


@pytest.mark.slow
@pytest.mark.learning
@pytest.mark.parametrize("name", ["lsgmer", "mcur"])
def test_beats_the_label_prior(name, small):
    prior = test_score(make_method("prior"), small)
    learned = test_score(make_method(name, preset="cpu", device="cpu", random_state=0), small)
    what = SCORE[small.name]
    print(f"{name} on {small.name}: test {what} {learned:.3f}, prior {prior:.3f}")
    assert learned >= prior + 0.05, f"{name} test {what} {learned:.3f} vs prior {prior:.3f} on {small.name}"
