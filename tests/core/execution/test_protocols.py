"""Robustness protocols: what each condition changes (and nothing else), errors, and the run wiring."""

from __future__ import annotations

import numpy as np
import pytest

import mmerbench
from mmerbench.errors import UsageError
from mmerbench.data import perturb
from mmerbench.execution.protocols import ConditionBuilder, conditions, evaluate_conditions, parse_protocol
from mmerbench.store.results import ResultStore
from mmerbench.testing.fixtures import make_tiny_dataset
from mmerbench_methods.prior.method import LabelPrior

MODALITIES = ("text", "audio", "vision")


def read_all(split):
    return split.take(np.arange(len(split)))


@pytest.fixture
def dataset():
    return make_tiny_dataset(n_train=60, n_valid=20, n_test=30, seed=3)


def test_missing_protocol_has_every_non_empty_combination_in_dataset_order():
    names = [c.name for c in conditions(["missing"], MODALITIES)]
    assert names == ["test@text", "test@audio", "test@vision", "test@text+audio", "test@text+vision",
                     "test@audio+vision", "test@text+audio+vision"]
    assert [c.name for c in conditions(["missing-rate:0.3", "noise:1"], ["text", "audio"])] == [
        "test@missing-rate=0.3", "test@noise=1:text", "test@noise=1:audio", "test@noise=1:all"]


@pytest.mark.parametrize("spec", ["mising", "missing-rate", "missing-rate:1.5", "missing-rate:0", "noise:-1",
                                  "noise:abc", "missing:0.3"])
def test_bad_protocol_specs_are_refused_with_the_valid_forms(spec):
    with pytest.raises(UsageError, match="Valid: missing"):
        parse_protocol(spec)


def test_missing_protocol_zeroes_exactly_the_named_modalities_and_nothing_else(dataset):
    original = read_all(dataset.test)
    builder = ConditionBuilder(dataset, seed=0)
    for condition in conditions(["missing"], MODALITIES):
        changed = read_all(builder.split(condition))
        for m in MODALITIES:
            if m in condition.present:
                np.testing.assert_array_equal(changed.features[m], original.features[m], err_msg=condition.name)
                np.testing.assert_array_equal(changed.lengths[m], original.lengths[m])
            else:
                assert not changed.features[m].any(), f"{condition.name}: {m} not zeroed"
                assert not changed.lengths[m].any(), f"{condition.name}: {m} length not 0"
                assert changed.features[m].shape == original.features[m].shape
        np.testing.assert_array_equal(changed.labels, original.labels)


def test_missing_rate_drops_at_the_rate_keeps_one_and_is_seeded(dataset):
    lengths = {m: np.full(4000, 5) for m in MODALITIES}
    dropped = perturb.drop_mask(lengths, 0.5, np.random.default_rng(0))
    assert not dropped.all(axis=1).any()  # at least one modality kept per sample
    # P(dropped) = 0.5 except that 1/8 of samples had all three drawn and got one back: 0.5 - 1/24
    assert dropped.mean() == pytest.approx(0.5 - 1 / 24, abs=0.02)
    (condition,) = conditions(["missing-rate:0.5"], MODALITIES)
    first = read_all(ConditionBuilder(dataset, seed=1).split(condition))
    again = read_all(ConditionBuilder(dataset, seed=1).split(condition))
    other = read_all(ConditionBuilder(dataset, seed=2).split(condition))
    original = read_all(dataset.test)
    for m in MODALITIES:
        np.testing.assert_array_equal(first.features[m], again.features[m])
        gone = first.lengths[m] == 0
        assert not first.features[m][gone].any()
        np.testing.assert_array_equal(first.features[m][~gone], original.features[m][~gone])
    assert any(not np.array_equal(first.lengths[m], other.lengths[m]) for m in MODALITIES)


def test_noise_touches_only_the_target_modalitys_valid_steps_at_the_training_scale(dataset):
    (audio_noise,) = [c for c in conditions(["noise:2"], MODALITIES) if c.target == "audio"]
    builder = ConditionBuilder(dataset, seed=0)
    noisy_split = builder.split(audio_noise)
    noisy, original = read_all(noisy_split), read_all(dataset.test)
    for m in ("text", "vision"):
        np.testing.assert_array_equal(noisy.features[m], original.features[m])
    difference = noisy.features["audio"] - original.features["audio"]
    valid = np.arange(difference.shape[1])[None, :] < original.lengths["audio"][:, None]
    assert not difference[~valid].any()  # padding stays zero
    train_std = perturb.feature_std(dataset.train)["audio"]
    train = read_all(dataset.train)
    steps = np.arange(train.features["audio"].shape[1])[None, :] < train.lengths["audio"][:, None]
    np.testing.assert_allclose(train_std, train.features["audio"][steps].std(axis=0), rtol=1e-5)
    ratio = difference[valid].std(axis=0) / (2 * train_std)
    assert np.all(np.abs(ratio - 1) < 0.3)
    # The same rows get the same noise whatever batch they are read in.
    rows = np.array([7, 2, 19])
    np.testing.assert_array_equal(noisy_split.take(rows).features["audio"], noisy.features["audio"][rows])


class TextOnly(LabelPrior):
    name = "text-only"
    requires = {"modalities": ("text",)}


def test_a_method_that_requires_a_modality_gets_per_condition_errors(dataset):
    method = TextOnly().fit(dataset.train, dataset.valid)
    result = evaluate_conditions(method, dataset, ["missing", "missing-rate:0.3", "missing-rate:audio=0.3"], seed=0)
    # missing-rate:0.3 can drop text, as test@audio does: refused alike (protocol version 2)
    assert set(result.errors) == {"test@audio", "test@vision", "test@audio+vision", "test@missing-mean",
                                  "test@missing-rate=0.3"}
    assert "requires modality text" in result.errors["test@audio"]
    assert result.errors["test@missing-rate=0.3"].endswith("leave text out: missing-rate:audio=0.3,vision=0.3")
    assert {"test@text", "test@text+audio", "test@text+audio+vision", "test@missing-rate:audio=0.3"} <= set(
        result.metrics)
    assert {"acc", "p", "r", "mif1", "maf1"} <= set(result.metrics["test@text"])
    # what the refused condition's missingness came to is recorded all the same (it is the method's peers' data)
    assert 0 < result.info["test@missing-rate=0.3"]["dropped"] < 0.3


def test_several_drop_patterns_are_each_scored_and_averaged(dataset):
    method = mmerbench.make_method("br").fit(dataset.train, dataset.valid)
    result = evaluate_conditions(method, dataset, ["missing-rate:0.5@seeds=3"], seed=1)
    (condition,) = conditions(["missing-rate:0.5@seeds=3"], MODALITIES)
    builder = ConditionBuilder(dataset, seed=1)
    per_pattern = [method.predict(builder.split(condition, p)) for p in range(3)]
    from mmerbench.evaluation.metrics import score

    mif1 = [score(dataset.test.labels, predictions)["mif1"] for predictions in per_pattern]
    assert len(set(mif1)) > 1  # the patterns differ, and so do their scores
    assert result.prediction_passes == 3
    assert result.metrics["test@missing-rate=0.5@seeds=3"]["mif1"] == pytest.approx(np.mean(mif1))
    info = result.info["test@missing-rate=0.5@seeds=3"]
    assert info["pattern_seeds"] == 3 and info["pattern_std"]["mif1"] == pytest.approx(np.std(mif1, ddof=1))
    assert info["protocol"] == "missing-rate:0.5@seeds=3" and info["protocol_version"] == 2


def test_missing_mean_is_the_mean_over_the_combinations(dataset):
    method = mmerbench.make_method("br").fit(dataset.train, dataset.valid)
    plain = method.predict_proba(dataset.test)
    result = evaluate_conditions(method, dataset, ["missing"], seed=0, test_proba=plain)
    combos = [c.name for c in conditions(["missing"], MODALITIES)]
    assert result.prediction_passes == 6  # the full combination reuses the plain test probabilities
    for metric in ("mif1", "acc"):
        assert result.metrics["test@missing-mean"][metric] == pytest.approx(
            np.mean([result.metrics[c][metric] for c in combos]))
    # br learned from text (the fixture's signal): removing text must cost it.
    assert result.metrics["test@audio+vision"]["mif1"] < result.metrics["test@text+audio+vision"]["mif1"]


@pytest.mark.usefixtures("testing_plugin")
def test_run_stores_calibration_uncertainty_and_protocol_scores(tmp_path):
    outcome = mmerbench.run(["br"], ["tiny"], [0], results=tmp_path, protocols=["missing", "noise:1"])
    assert not outcome.failed
    with ResultStore(tmp_path) as store:
        (record,) = store.records()
    for split in ("valid", "test"):
        assert {"ece", "ece_label", "brier", "nll", "unc_auroc", "aurc"} <= set(record["metrics"][split])
        assert record["reliability"][split]["kind"] == "pooled"
    assert record["uncertainty_source"] == "entropy"
    assert "test@text+audio" in record["metrics"] and "test@noise=1:all" in record["metrics"]
    assert "test@missing-mean" in record["metrics"] and record["condition_errors"] == {}
    assert record["protocols"] == ["missing", "noise:1"] and record["protocol_version"] == 2
    # protocols are not part of the key: the same job without them is already done
    assert not mmerbench.run(["br"], ["tiny"], [0], results=tmp_path).records


@pytest.mark.usefixtures("testing_plugin")
def test_run_records_each_protocol_as_written_with_its_realised_missingness(tmp_path):
    protocols = ["missing-rate:text=0.5,audio=0.1,vision=0.3", "missing-modality:vision", "missing-rate:0.3@seeds=2"]
    outcome = mmerbench.run(["br"], ["tiny"], [0], results=tmp_path, protocols=protocols)
    assert not outcome.failed
    with ResultStore(tmp_path) as store:
        (record,) = store.records()
    assert record["protocols"] == protocols and record["condition_errors"] == {}
    names = ["test@missing-rate:text=0.5,audio=0.1,vision=0.3", "test@missing-modality:vision",
             "test@missing-rate=0.3@seeds=2"]
    assert set(names) <= set(record["metrics"]) and set(names) == set(record["condition_info"])
    for name, protocol in zip(names, protocols):
        info = record["condition_info"][name]
        assert info["protocol"] == protocol
        assert {"complete", "none", "dropped", "dropped_by_modality"} <= set(info)
    assert record["condition_info"]["test@missing-modality:vision"]["dropped_by_modality"] == {
        "text": 0.0, "audio": 0.0, "vision": 1.0}
    # and `mmerbench results --format csv` puts them beside the scores
    import csv
    import io

    from mmerbench.reporting.results_csv import write_records_csv

    stream = io.StringIO()
    write_records_csv([record], stream)
    (row,) = csv.DictReader(io.StringIO(stream.getvalue()))
    assert float(row["test@missing-modality:vision_realised_dropped"]) == pytest.approx(1 / 3)
    assert row["test@missing-rate=0.3@seeds=2_realised_complete"] != ""
