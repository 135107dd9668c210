"""A job's scores beyond accuracy: which uncertainty is used, the agreed record keys, single-label data."""

from __future__ import annotations

import numpy as np
import pytest

from mmerbench.cli.outcome import print_condition_errors
from mmerbench.evaluation.job_scores import SplitOutputs, beyond_accuracy, own_uncertainty
from mmerbench.evaluation.uncertainty import bernoulli_entropy, noise_spearman, per_label_error_detection

CALIBRATION = {"ece", "ece_label", "brier", "nll"}


def outputs(rng, n, q=4, with_own=False, per_modality=False, noise=True):
    labels = (rng.random((n, q)) < 0.4).astype(np.uint8)
    proba = np.clip(labels * 0.6 + rng.random((n, q)) * 0.4, 0, 1)
    noise_level = rng.random((n, 3))
    own = noise_level.mean(1, keepdims=True) * np.ones((1, q)) + 0.01 * rng.random((n, q)) if with_own else None
    own_modalities = np.repeat(noise_level[:, None, :], q, axis=1) if per_modality else None
    return SplitOutputs(proba, labels, own, own_modalities, noise_level if noise else None)


def test_without_its_own_uncertainty_a_method_is_scored_by_entropy():
    rng = np.random.default_rng(0)
    splits = {"valid": outputs(rng, 100), "test": outputs(rng, 200)}
    extra = beyond_accuracy(splits, 0.5, modalities=["text", "audio", "vision"])
    assert extra["uncertainty_source"] == "entropy"
    test = extra["metrics"]["test"]
    assert CALIBRATION | {"unc_auroc", "aurc", "noise_spearman"} <= set(test)
    assert "unc_auroc_entropy" not in test
    errors = (splits["test"].proba > 0.5) != splits["test"].labels.astype(bool)
    assert test["unc_auroc"] == pytest.approx(
        per_label_error_detection(bernoulli_entropy(splits["test"].proba), errors)["unc_auroc"])
    assert set(extra["reliability"]) == {"valid", "test"} and extra["reliability"]["test"]["kind"] == "pooled"


def test_a_methods_own_uncertainty_is_scored_and_entropy_kept_as_the_baseline():
    rng = np.random.default_rng(1)
    splits = {"valid": outputs(rng, 100, with_own=True, per_modality=True),
              "test": outputs(rng, 200, with_own=True, per_modality=True)}
    extra = beyond_accuracy(splits, 0.5, modalities=["text", "audio", "vision"])
    assert extra["uncertainty_source"] == "own"
    test = extra["metrics"]["test"]
    assert {"unc_auroc_entropy", "aurc_entropy", "noise_spearman_entropy"} <= set(test)
    # The own score follows the noise by construction; quantiles come from the valid split.
    expected = noise_spearman(splits["test"].uncertainty, splits["valid"].uncertainty, splits["test"].noise)
    assert test["noise_spearman"] == pytest.approx(expected) and test["noise_spearman"] > 0.9
    assert test["noise_spearman_text"] > 0.9 and test["noise_spearman_vision"] > 0.9


def test_data_without_true_noise_get_no_noise_scores():
    rng = np.random.default_rng(2)
    extra = beyond_accuracy({"valid": outputs(rng, 50, noise=False), "test": outputs(rng, 50, noise=False)}, 0.5)
    assert "noise_spearman" not in extra["metrics"]["test"]


def test_single_label_data_use_the_top_class_ece_and_argmax_errors():
    rng = np.random.default_rng(3)
    truth = np.eye(3, dtype=np.uint8)[rng.integers(0, 3, 120)]
    proba = rng.dirichlet(np.ones(3), 120)
    extra = beyond_accuracy({"test": SplitOutputs(proba, truth)}, 0.5, single_label=True)
    assert extra["reliability"]["test"]["kind"] == "top-class"
    from mmerbench.evaluation.calibration import top_class_ece

    assert extra["metrics"]["test"]["ece"] == pytest.approx(top_class_ece(proba, truth))


class WithPerModality:
    def predict_uncertainty(self, split, per_modality=False):
        base = np.arange(len(split) * 2, dtype=float).reshape(len(split), 2)
        return np.stack([base, base * 2], axis=2) if per_modality else base


class WithoutPerModality:
    def predict_uncertainty(self, split):
        return np.ones((len(split), 2))


def test_own_uncertainty_asks_for_per_modality_only_when_offered():
    split = np.zeros(5)
    overall, per_modality = own_uncertainty(WithPerModality(), split)
    assert overall.shape == (5, 2) and per_modality.shape == (5, 2, 2)
    overall, per_modality = own_uncertainty(WithoutPerModality(), split)
    assert overall.shape == (5, 2) and per_modality is None
    assert own_uncertainty(object(), split) == (None, None)


def test_the_run_summary_lists_conditions_without_scores(capsys):
    print_condition_errors([{"method": "lsan", "dataset": "synthetic", "seed": 0,
                             "condition_errors": {"test@audio": "lsan requires modality text"}}])
    err = capsys.readouterr().err
    assert "1 robustness condition(s) without scores" in err and "lsan on synthetic seed 0, test@audio" in err
