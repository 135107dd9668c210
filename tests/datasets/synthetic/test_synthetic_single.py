"""synthetic-single: one IEMOCAP-like class per sample; the multi-label datasets stay exactly as they were."""

from __future__ import annotations

import numpy as np
import pytest

import mmerbench
from mmerbench.evaluation.metrics import score
from mmerbench_datasets.synthetic.generator import SyntheticParams, cache_path
from mmerbench_datasets.synthetic.single import CLASS_FREQUENCY, SINGLE_LABEL_NAMES, draw_single_label
from mmerbench_datasets.synthetic.story import sample_rng

TINY = dict(n_train=40, n_valid=10, n_test=20, steps=8, text_dim=6, audio_dim=4, vision_dim=3)

# Fingerprints of the multi-label synthetic datasets before synthetic-single existed (commit 2898111).
# Adding a variant must never change them: results stored against them stay valid.
PINNED = {
    ("synthetic", "default"): "1161fb0d712dd93c",
    ("synthetic", "tiny"): "211c7e9feebbc592",
    ("synthetic-unaligned", "tiny"): "cbe91768516db6b6",
}


@pytest.mark.parametrize("name,size", sorted(PINNED))
def test_multi_label_fingerprints_are_unchanged(name, size):
    dataset = mmerbench.load_dataset(name, **(TINY if size == "tiny" else {}))
    assert dataset.fingerprint == PINNED[(name, size)]
    assert not dataset.single_label


def test_multi_label_cache_keys_do_not_mention_the_single_label_switch():
    # The cache key of an existing dataset must not change either (a cached synthetic-mosei is 6 GB);
    # this is the key the tiny `synthetic` had before the switch existed.
    params = SyntheticParams(name="synthetic", seed=0, sizes=(40, 10, 20), steps={"text": 8, "audio": 8, "vision": 8},
                             dims={"text": 6, "audio": 4, "vision": 3})
    assert cache_path(params).name == "synthetic-b5e1d0dd924bea88.h5"
    single = SyntheticParams(**{**params.__dict__, "single_label": True})
    assert single.key() != params.key()


def test_one_class_per_sample_with_iemocap_names_and_frequencies():
    dataset = mmerbench.load_dataset("synthetic-single")
    assert dataset.single_label and dataset.train.single_label
    assert list(dataset.label_names) == list(SINGLE_LABEL_NAMES)
    assert dataset.modalities == {"text": 48, "audio": 24, "vision": 16}
    for split in dataset.splits.values():
        assert (np.asarray(split.labels).sum(axis=1) == 1).all()
    frequency = np.asarray(dataset.train.labels).mean(axis=0)
    assert np.abs(frequency - CLASS_FREQUENCY).max() < 0.04, frequency
    # The intensity is set for the one present class only.
    intensity = dataset.train.meta["intensity"]
    assert ((intensity > 0) == (np.asarray(dataset.train.labels) == 1)).all()


def test_draw_single_label_follows_the_class_frequencies():
    labels = np.array([draw_single_label(sample_rng(0, 0, i))[0] for i in range(5000)])
    assert (labels.sum(axis=1) == 1).all()
    assert np.abs(labels.mean(axis=0) - CLASS_FREQUENCY).max() < 0.02


def test_same_story_otherwise_and_learnable_beyond_the_majority_class():
    from sklearn.linear_model import LogisticRegression

    dataset = mmerbench.load_dataset("synthetic-single", n_train=600, n_valid=50, n_test=300, cue_strength=10.0)
    single = mmerbench.load_dataset("synthetic-single", **TINY, unaligned=True)
    assert single.train.steps["audio"] == 4 * single.train.steps["text"]  # the unaligned switch works as before

    def pooled(split):  # max over time finds the cue windows
        return np.concatenate([np.asarray(split.features[m]).max(axis=1) for m in split.modalities], axis=1)

    train_classes = np.asarray(dataset.train.labels).argmax(axis=1)
    model = LogisticRegression(max_iter=2000).fit(pooled(dataset.train), train_classes)
    predicted = np.eye(6, dtype=np.uint8)[model.predict(pooled(dataset.test))]
    majority = np.zeros_like(predicted)
    majority[:, np.bincount(train_classes, minlength=6).argmax()] = 1
    test = np.asarray(dataset.test.labels)
    learned, floor = score(test, predicted, single_label=True), score(test, majority, single_label=True)
    assert learned["single_acc"] > floor["single_acc"] + 0.2, (learned["single_acc"], floor["single_acc"])
    assert "wf1" in learned
