"""A job takes its predictions from the probabilities it computed: one pass over each split (issue 24)."""

from __future__ import annotations

import numpy as np
import pytest

from mmerbench.evaluation.metrics import threshold_predictions
from mmerbench.execution.worker import _predict_and_score
from mmerbench.testing.fixtures import make_tiny_dataset
from mmerbench_methods.prior.method import LabelPrior


class CountingPrior(LabelPrior):
    """The label prior nudged per sample (so thresholds split the rows), counting its passes over a split."""

    def _predict_proba(self, split):
        self.passes = getattr(self, "passes", 0) + 1
        first = np.asarray(split.features[split.modalities[0]][:, 0, 0], dtype=np.float64)
        return np.clip(self.prior_[None, :] + 0.3 * np.tanh(first)[:, None], 0.0, 1.0)


class OwnPredict(CountingPrior):
    """A method with its own decision rule: everything positive (its predict is what gets scored)."""

    def predict(self, split):
        return np.ones((len(split), self.n_labels_), dtype=int)


@pytest.fixture(scope="module")
def dataset():
    return make_tiny_dataset()


def _scored(method, dataset):
    method.fit(dataset.train, dataset.valid)
    method.passes = 0
    return _predict_and_score(method, dataset, {"method": "counting"})


def test_predictions_are_the_probabilities_thresholded_without_a_second_pass(dataset):
    method = CountingPrior()
    arrays, metrics, _, _ = _scored(method, dataset)
    assert method.passes == 2  # valid and test once each: predict_proba is not run again for predict
    expected = threshold_predictions(method.predict_proba(dataset.test), method.threshold_, False)
    again = _scored(CountingPrior(), dataset)[1]
    assert metrics == again  # deterministic, and the same as scoring method.predict's predictions:
    from mmerbench.evaluation.metrics import score

    by_predict = score(dataset.test.labels, method.predict(dataset.test), arrays["test_proba"].astype(np.float64),
                       single_label=False, label_names=dataset.label_names)
    by_predict.pop("per_label")
    assert metrics["test"] == by_predict
    assert expected.any() and not expected.all()  # a threshold that splits the rows: the comparison can fail


def test_a_method_with_its_own_predict_is_scored_on_it(dataset):
    method = OwnPredict()
    _, metrics, _, _ = _scored(method, dataset)
    assert metrics["test"]["r"] == 1.0  # every true label recalled: its predict said 1 everywhere
