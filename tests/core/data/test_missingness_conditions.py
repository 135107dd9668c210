"""Missingness conditions: per-modality rates, a modality absent from the whole split, drop patterns that are
seeded, paired and unchanged from version 1, and what the missingness came to (realised shares)."""

from __future__ import annotations

import numpy as np
import pytest

from mmerbench.data import perturb
from mmerbench.data.conditions import ConditionBuilder, conditions, realised_missingness
from mmerbench.testing.fixtures import make_tiny_dataset

MODALITIES = ("text", "audio", "vision")


@pytest.fixture(scope="module")
def dataset():
    return make_tiny_dataset(n_train=60, n_valid=20, n_test=30, seed=3)


def one(spec, modalities=MODALITIES):
    (condition,) = conditions([spec], modalities)
    return condition


def gone(split) -> dict[str, list[int]]:
    return {m: np.flatnonzero(np.asarray(v) == 0).tolist() for m, v in split.lengths.items()}


def test_condition_names_old_forms_unchanged_new_forms_as_written():
    assert [c.name for c in conditions(["missing-rate:0.1,0.3", "noise:1"], ["text", "audio"])] == [
        "test@missing-rate=0.1", "test@missing-rate=0.3", "test@noise=1:text", "test@noise=1:audio",
        "test@noise=1:all"]
    assert one("missing-rate:0.3@seeds=10").name == "test@missing-rate=0.3@seeds=10"
    assert one("missing-rate:text=0.5,audio=0.1,vision=0.3").name == "test@missing-rate:text=0.5,audio=0.1,vision=0.3"
    assert one("missing-rate:audio=0.3, vision=0.3").name == "test@missing-rate:audio=0.3,vision=0.3"
    assert one("missing-modality:text").name == "test@missing-modality:text"
    assert one("missing-rate:0.3").protocol == "missing-rate:0.3"


def test_missing_rate_patterns_are_those_of_version_1(dataset):
    # Drawn by the code of version 1 (main at ea1295f) for this dataset: existing numbers do not move.
    expected = {
        ("missing-rate:0.3", 1): {"text": [1, 2, 4, 5, 6, 7, 8, 10, 16, 18, 23, 25, 26, 29], "audio": [11, 22, 27, 28],
                                  "vision": [1, 5, 17, 22, 23, 24, 25]},
        ("missing-rate:0.7", 0): {
            "text": [0, 2, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 20, 22, 23, 24, 27, 29],
            "audio": [0, 1, 2, 3, 4, 6, 7, 12, 18, 19, 20, 22, 23, 25, 26, 28],
            "vision": [1, 3, 5, 7, 8, 9, 10, 11, 13, 15, 16, 17, 18, 19, 21, 25, 26, 27, 28, 29]},
    }
    for (spec, seed), dropped in expected.items():
        assert gone(ConditionBuilder(dataset, seed).split(one(spec))) == dropped, spec


def test_per_modality_rates_drop_each_modality_at_its_own_rate_and_never_one_of_rate_0():
    lengths = {m: np.full(6000, 5) for m in MODALITIES}
    dropped = perturb.drop_mask(lengths, [0.5, 0.1, 0.0], np.random.default_rng(0))
    assert not dropped[:, 2].any()  # rate 0: never dropped (and so never given back either)
    assert dropped[:, 0].mean() == pytest.approx(0.5, abs=0.03)  # one of text/audio always stays: no give-back
    assert dropped[:, 1].mean() == pytest.approx(0.1, abs=0.02)
    everything = perturb.drop_mask(lengths, [0.9, 0.9, 0.9], np.random.default_rng(0))
    assert not everything.all(axis=1).any()  # at least one kept per sample
    with pytest.raises(ValueError, match="2 rates for 3 modalities"):
        perturb.drop_mask(lengths, [0.5, 0.1], np.random.default_rng(0))


def test_the_pattern_depends_on_the_rates_not_on_how_they_were_written(dataset):
    builder = ConditionBuilder(dataset, seed=4)
    written = builder.split(one("missing-rate:text=0.5,audio=0.1,vision=0.3"))
    reordered = builder.split(one("missing-rate:vision=0.3,text=0.5,audio=0.1"))
    assert gone(written) == gone(reordered)
    assert gone(builder.split(one("missing-rate:text=0.3,audio=0.3,vision=0.3"))) == gone(
        builder.split(one("missing-rate:0.3")))
    # Another builder (another method's job, same seed): the same pattern; another seed: another one.
    assert gone(ConditionBuilder(dataset, seed=4).split(one("missing-rate:0.3"))) == gone(
        builder.split(one("missing-rate:0.3")))
    assert gone(ConditionBuilder(dataset, seed=5).split(one("missing-rate:0.3"))) != gone(
        builder.split(one("missing-rate:0.3")))


def test_pattern_seeds_start_with_the_plain_pattern_and_differ_after_it(dataset):
    builder = ConditionBuilder(dataset, seed=2)
    several = one("missing-rate:0.3@seeds=3")
    assert several.pattern_seeds == 3
    patterns = [gone(builder.split(several, p)) for p in range(3)]
    assert patterns[0] == gone(builder.split(one("missing-rate:0.3")))
    assert patterns[1] != patterns[0] and patterns[2] != patterns[1]
    assert gone(ConditionBuilder(dataset, seed=2).split(several, 2)) == patterns[2]  # seeded


def test_missing_modality_removes_it_from_every_sample_and_nothing_else(dataset):
    builder = ConditionBuilder(dataset, seed=0)
    absent = builder.split(one("missing-modality:text"))
    original = dataset.test.take(np.arange(len(dataset.test)))
    rows = absent.take(np.arange(len(absent)))
    assert not rows.lengths["text"].any() and not rows.features["text"].any()
    for m in ("audio", "vision"):
        np.testing.assert_array_equal(rows.features[m], original.features[m])
        np.testing.assert_array_equal(rows.lengths[m], original.lengths[m])
    same = builder.split(next(c for c in conditions(["missing"], MODALITIES) if c.name == "test@audio+vision"))
    assert gone(same) == gone(absent)
    assert one("missing-modality:smell").unknown == ("smell",)


def test_realised_missingness_counts_complete_empty_and_dropped():
    before = {"text": np.array([3, 3, 3, 3]), "audio": np.array([2, 2, 2, 0])}
    after = {"text": np.array([3, 0, 0, 3]), "audio": np.array([2, 2, 0, 0])}
    shares = realised_missingness(before, after)
    assert shares["complete"] == pytest.approx(1 / 4)  # sample 0 only
    assert shares["none"] == pytest.approx(1 / 4)  # sample 2; sample 3 keeps text (its audio was absent before)
    assert shares["dropped"] == pytest.approx(3 / 7)  # 3 of the 7 present (sample, modality) pairs
    assert shares["dropped_by_modality"] == pytest.approx({"text": 2 / 4, "audio": 1 / 3})


def test_a_nominal_rate_drops_less_than_it_says_and_the_share_reports_it():
    lengths = {m: np.full(6000, 5) for m in MODALITIES}
    dropped = perturb.drop_mask(lengths, 0.7, np.random.default_rng(1))
    after = {m: np.where(dropped[:, k], 0, lengths[m]) for k, m in enumerate(MODALITIES)}
    shares = realised_missingness(lengths, after)
    # P(all three drawn) = 0.343, each giving one back: 0.7 - 0.343/3 = 0.586 dropped, 0.027 complete, none empty
    assert shares["dropped"] == pytest.approx(0.7 - 0.343 / 3, abs=0.015)
    assert shares["complete"] == pytest.approx(0.3 ** 3, abs=0.01) and shares["none"] == 0.0
