"""The uncertainty scores of benchmarks/lddu_uncertainty.py on cases whose answer is known."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "lddu_uncertainty.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("lddu_uncertainty", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_score_that_ranks_every_error_last_is_perfect_and_its_reverse_is_not(bench):
    errors = np.array([[0, 1], [0, 0], [1, 0], [1, 1], [0, 0]], dtype=bool)
    perfect = errors.astype(float) + 0.1 * np.arange(5)[:, None]  # errors above every non-error
    assert bench.error_auroc(perfect, errors) == pytest.approx(1.0)
    assert bench.error_auroc(-perfect, errors) == pytest.approx(0.0)
    # AURC: errors last means zero risk until coverage passes the non-errors.
    risks_label0 = [0, 0, 0, 1 / 4, 2 / 5]  # 3 non-errors first, then the 2 errors
    risks_label1 = [0, 0, 0, 1 / 4, 2 / 5]
    assert bench.aurc(perfect, errors) == pytest.approx((np.mean(risks_label0) + np.mean(risks_label1)) / 2)
    assert bench.aurc(-perfect, errors) > bench.aurc(perfect, errors)


def test_labels_without_errors_are_left_out_of_the_auroc_and_entropy_peaks_at_one_half(bench):
    errors = np.array([[0, 1], [0, 0], [0, 1]], dtype=bool)  # label 0 has no error
    uncertainty = np.array([[0.3, 0.9], [0.1, 0.2], [0.2, 0.8]])
    assert bench.error_auroc(uncertainty, errors) == pytest.approx(1.0)
    entropy = bench.bernoulli_entropy(np.array([0.5, 0.1, 0.9, 0.0]))
    assert entropy[0] == pytest.approx(np.log(2)) and entropy[1] == pytest.approx(entropy[2])
    assert entropy[3] < 1e-5


def test_noise_spearman_uses_sample_means(bench):
    uncertainty = np.array([[1.0, 3.0], [0.0, 0.0], [5.0, 5.0]])  # sample means 2, 0, 5
    noise = np.array([[0.2, 0.2], [0.1, 0.1], [0.9, 0.5]])  # sample means 0.2, 0.1, 0.7
    assert bench.noise_spearman(uncertainty, noise) == pytest.approx(1.0)
