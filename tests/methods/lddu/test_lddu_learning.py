"""LDDU learns: on a small synthetic set its test miF1 beats the label prior by at least 0.05."""

from __future__ import annotations

import numpy as np
import pytest

import mmerbench
from mmerbench.api import make_method
from mmerbench.evaluation.metrics import micro_f1


@pytest.fixture(scope="module")
def small_synthetic():
    return mmerbench.load_dataset("synthetic", n_train=300, n_valid=100, n_test=200, steps=8,
                                  cue_strength=10.0)


def test_mif1(method, dataset) -> float:
    predictions = method.fit(dataset.train, dataset.valid).predict(dataset.test)
    return micro_f1(np.asarray(dataset.test.labels).astype(bool), predictions.astype(bool))


test_mif1.__test__ = False  # a helper, not a test


def test_lddu_beats_the_label_prior(small_synthetic):
    prior = test_mif1(make_method("prior"), small_synthetic)
    lddu = test_mif1(make_method("lddu", preset="cpu", device="cpu", epochs=15, batch_size=32, lr=3e-3, patience=0,
                                 hidden=32, feedforward=64, label_dim=32, attention_dim=32, emotion_dim=32,
                                 latent=16, queue_size=512, random_state=0), small_synthetic)
    print(f"LDDU test miF1 {lddu:.3f}, prior {prior:.3f}")
    assert lddu >= prior + 0.05, f"LDDU test miF1 {lddu:.3f} vs prior {prior:.3f}"
