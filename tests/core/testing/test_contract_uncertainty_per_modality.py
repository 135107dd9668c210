"""The contract suite's uncertainty check covers predict_uncertainty(split, per_modality=True) when offered."""

from __future__ import annotations

import numpy as np
import pytest

from mmerbench.testing import method_checks
from mmerbench_methods.prior.method import LabelPrior


class PerModality(LabelPrior):
    def predict_uncertainty(self, split, per_modality=False):
        shape = (len(split), split.n_labels) + ((len(split.modalities),) if per_modality else ())
        return np.ones(shape)


class PerModalityWrongShape(LabelPrior):
    def predict_uncertainty(self, split, per_modality=False):
        return np.ones((len(split), split.n_labels))  # ignores per_modality


def run_uncertainty_check(cls):
    ((_, check),) = list(method_checks(cls, checks=["uncertainty"]))
    check()


def test_a_correct_per_modality_uncertainty_passes():
    run_uncertainty_check(PerModality)


def test_a_per_modality_uncertainty_of_the_wrong_shape_is_caught():
    with pytest.raises(AssertionError, match=r"per_modality=True\): shape .* expected .*\(N, q, M\)"):
        run_uncertainty_check(PerModalityWrongShape)
