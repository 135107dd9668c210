"""--set DATASET.train_missing_rate=R: modalities dropped from train and valid only, seeded, keyed when != 0."""

from __future__ import annotations

import numpy as np
import pytest

import mmerbench
from mmerbench.errors import UsageError
from mmerbench.execution.runner import plan

pytestmark = pytest.mark.usefixtures("testing_plugin")
MODALITIES = ("text", "audio", "vision")


def dropped_share(split) -> float:
    return float(np.mean([np.asarray(split.lengths[m]) == 0 for m in MODALITIES]))


def test_train_and_valid_lose_modalities_test_does_not():
    plain = mmerbench.load_dataset("tiny", n_train=300, n_valid=100)
    missing = mmerbench.load_dataset("tiny", n_train=300, n_valid=100, train_missing_rate=0.3)
    assert dropped_share(plain.train) == 0
    assert 0.2 < dropped_share(missing.train) < 0.35 and 0.15 < dropped_share(missing.valid) < 0.4
    train = missing.train.take(np.arange(len(missing.train)))
    original = plain.train.take(np.arange(len(plain.train)))
    for m in MODALITIES:
        gone = train.lengths[m] == 0
        assert not train.features[m][gone].any()
        np.testing.assert_array_equal(train.features[m][~gone], original.features[m][~gone])
    assert all((np.asarray(missing.train.lengths[m]) > 0).any() for m in MODALITIES)
    assert not any(all(train.lengths[m][i] == 0 for m in MODALITIES) for i in range(len(train.labels)))
    for m in MODALITIES:  # the test split is the plain one
        np.testing.assert_array_equal(missing.test.lengths[m], plain.test.lengths[m])
    assert missing.fingerprint != plain.fingerprint
    again = mmerbench.load_dataset("tiny", n_train=300, n_valid=100, train_missing_rate=0.3)
    assert again.fingerprint == missing.fingerprint
    for m in MODALITIES:
        np.testing.assert_array_equal(again.train.lengths[m], missing.train.lengths[m])
    assert missing.params["train_missing_rate"] == 0.3


def test_the_rate_enters_the_key_only_when_it_is_not_zero():
    (plain,), _ = plan(["prior"], ["tiny"], [0])
    (zero,), _ = plan(["prior"], ["tiny"], [0], settings={"tiny.train_missing_rate": 0})
    (some,), _ = plan(["prior"], ["tiny"], [0], settings={"tiny.train_missing_rate": 0.3})
    assert zero.key == plain.key and "train_missing_rate" not in zero.dataset_params
    assert some.key != plain.key and some.dataset_params == {"train_missing_rate": 0.3}
    assert "--set tiny.train_missing_rate=0.3" in some.command


@pytest.mark.parametrize("bad", [1.0, -0.1, "many"])
def test_a_bad_rate_is_refused_with_the_valid_range(bad):
    with pytest.raises(UsageError, match="train_missing_rate"):
        mmerbench.load_dataset("tiny", train_missing_rate=bad)


def test_a_job_trains_under_missing_modalities(tmp_path):
    outcome = mmerbench.run(["br"], ["tiny"], [0], results=tmp_path, settings={"tiny.train_missing_rate": 0.5})
    assert not outcome.failed, outcome.failed
    assert outcome.records[0]["dataset_params"] == {"train_missing_rate": 0.5}
