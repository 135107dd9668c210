"""The label-prior baseline: every sample gets the training label frequencies.

It learns nothing from features, so any real method must beat it; it doubles
as the cheapest fixture for tests of the harness.
"""

from __future__ import annotations

import numpy as np

from mmerbench.method import Method
from mmerbench_methods.prior.search import SEARCH_SPACES


class LabelPrior(Method):
    name = "prior"
    version = "1"
    search_spaces = SEARCH_SPACES  # what `mmerbench tune` may vary (search.py)
    test_params = {}
    presets = {}

    def __init__(self, smoothing: float = 0.0, threshold: str = "valid", random_state: int = 0):
        self.smoothing = smoothing
        self.threshold = threshold
        self.random_state = random_state

    def _fit(self, train, valid):
        labels = np.asarray(train.labels, dtype=float)
        self.prior_ = (labels.sum(axis=0) + self.smoothing) / (len(labels) + 2 * self.smoothing)

    def _predict_proba(self, split):
        return np.tile(self.prior_, (len(split), 1))

    def extra_state(self):
        return {"prior": self.prior_}

    def set_extra_state(self, state):
        self.prior_ = np.asarray(state["prior"], dtype=np.float64)
