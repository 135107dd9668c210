"""LDDU's per-modality uncertainty (predict_uncertainty(split, per_modality=True)) used by noise_spearman_<m>."""

from __future__ import annotations

import numpy as np

import mmerbench
from mmerbench.api import method_class
from mmerbench.evaluation.job_scores import own_uncertainty
from mmerbench.testing.fixtures import make_tiny_dataset


def test_per_modality_sigma_norms_combine_into_the_overall_one():
    dataset = make_tiny_dataset(n_train=32, n_valid=8, n_test=10)
    cls = method_class("lddu")
    method = mmerbench.make_method("lddu", **cls.test_params).fit(dataset.train, dataset.valid)
    overall, per_modality = own_uncertainty(method, dataset.test)
    assert overall.shape == (10, 4) and per_modality.shape == (10, 4, 3)
    # ||sigma_ij|| over all modalities is the root of the sum of each modality's squared norm
    np.testing.assert_allclose(np.sqrt((per_modality ** 2).sum(axis=2)), overall, rtol=1e-5)
    assert not np.allclose(per_modality[..., 0], per_modality[..., 1])
