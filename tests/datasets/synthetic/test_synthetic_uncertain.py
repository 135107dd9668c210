"""synthetic-uncertain: noise drives difficulty there; the original synthetic data stay exactly as they were."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from scipy.stats import spearmanr

import mmerbench
from mmerbench.data import load_canonical
from mmerbench_datasets.synthetic.generator import SyntheticParams, write_synthetic
from mmerbench_datasets.synthetic.reference_detector import reference_losses
from mmerbench_datasets.synthetic.story import Story

# Values from before the synthetic-uncertain knobs existed: the same parameters must give the same arrays.
SYNTHETIC_FINGERPRINT = "1161fb0d712dd93c"
TINY_FINGERPRINT, TINY_CACHE_KEY = "211c7e9feebbc592", "b5e1d0dd924bea88"


def tiny_params(**changes) -> SyntheticParams:
    values = dict(name="synthetic", seed=0, sizes=(40, 10, 20), steps={"text": 8, "audio": 8, "vision": 8},
                  dims={"text": 6, "audio": 4, "vision": 3})
    values.update(changes)
    return SyntheticParams(**values)


def test_the_original_synthetic_data_keep_their_fingerprint_and_cache_key(tmp_path):
    assert tiny_params().key() == TINY_CACHE_KEY
    assert load_canonical(write_synthetic(tmp_path / "tiny.h5", tiny_params())).fingerprint == TINY_FINGERPRINT
    assert mmerbench.load_dataset("synthetic").fingerprint == SYNTHETIC_FINGERPRINT


def test_each_knob_does_what_it_says(tmp_path):
    plain = load_canonical(write_synthetic(tmp_path / "plain.h5", tiny_params()), in_memory=True)
    changed = load_canonical(write_synthetic(tmp_path / "changed.h5", tiny_params(
        always_cued=True, fixed_intensity=1.0, confuser_probability=0.0, shared_noise=True, noise_log_sd=1.0)),
        in_memory=True)
    train, before = changed.train, plain.train
    np.testing.assert_array_equal(train.labels, before.labels)  # same utterances, same emotions
    present = train.labels.astype(bool)
    assert (train.meta["cued"][present] == 1).all()  # every present emotion shows in every modality
    assert (before.meta["cued"][present] == 0).any()
    assert set(np.unique(train.meta["intensity"][present])) == {1.0}
    noise = train.meta["noise"]
    np.testing.assert_allclose(noise, noise[:, :1].repeat(3, axis=1))
    assert np.log(noise[:, 0]).std() > np.log(before.meta["noise"]).std()
    assert tiny_params(shared_noise=True).key() != TINY_CACHE_KEY


def detector_noise_spearman(name: str) -> float:
    dataset = mmerbench.load_dataset(name)
    with h5py.File(dataset.path, "r") as handle:
        params = json.loads(handle.attrs["params"])
    story = Story(**{k: v for k, v in params.items() if k not in ("name", "sizes", "dtype", "missing_rate")})
    loss, _ = reference_losses(dataset, story)
    return float(spearmanr(loss, dataset.test.meta["noise"].mean(axis=1)).statistic)


@pytest.mark.slow
def test_noise_drives_the_reference_detectors_loss_on_synthetic_uncertain_only():
    assert detector_noise_spearman("synthetic-uncertain") >= 0.6
    assert detector_noise_spearman("synthetic") < 0.3
