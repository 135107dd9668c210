"""The data model and the canonical HDF5 form."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from mmerbench.data import (
    CanonicalWriter,
    carve_validation,
    load_canonical,
    make_split,
    with_validation,
    write_dataset,
)
from mmerbench.errors import DataError
from mmerbench.testing.fixtures import make_tiny_dataset


def _writer(path, **kwargs):
    options = dict(name="t", label_names=["a", "b"], modalities={"text": 3})
    options.update(kwargs)
    return CanonicalWriter(path, **options)


def test_round_trip_keeps_every_array(tmp_path):
    dataset = make_tiny_dataset()
    path = write_dataset(tmp_path / "tiny.h5", dataset)
    loaded = load_canonical(path)
    assert loaded.label_names == dataset.label_names
    assert loaded.modalities == dataset.modalities
    for name in ("train", "valid", "test"):
        original, stored = dataset.splits[name], loaded.splits[name]
        assert isinstance(stored.features["text"], h5py.Dataset)  # lazy
        np.testing.assert_array_equal(stored.labels, original.labels)
        np.testing.assert_array_equal(stored.ids, original.ids)
        for m in original.features:
            np.testing.assert_array_equal(stored.take(np.arange(len(stored))).features[m], original.features[m])
            np.testing.assert_array_equal(stored.lengths[m], original.lengths[m])
    with h5py.File(path) as handle:
        assert handle.attrs["schema_version"] == 1
        assert handle["train/labels"].dtype == np.uint8
        assert handle["train/lengths/text"].dtype == np.int32


def test_fingerprint_is_stable_and_follows_content(tmp_path):
    first = load_canonical(write_dataset(tmp_path / "a.h5", make_tiny_dataset(seed=0))).fingerprint
    again = load_canonical(write_dataset(tmp_path / "b.h5", make_tiny_dataset(seed=0))).fingerprint
    other = load_canonical(write_dataset(tmp_path / "c.h5", make_tiny_dataset(seed=1))).fingerprint
    assert first == again != other


def test_take_reads_any_order_from_hdf5(tmp_path):
    dataset = make_tiny_dataset()
    stored = load_canonical(write_dataset(tmp_path / "t.h5", dataset)).train
    indices = np.array([5, 1, 1, 30, 2])
    taken = stored.take(indices)
    np.testing.assert_array_equal(taken.features["audio"], dataset.train.features["audio"][indices])
    np.testing.assert_array_equal(taken.labels, dataset.train.labels[indices])
    np.testing.assert_array_equal(taken.ids, dataset.train.ids[indices])


def test_nan_is_refused_naming_file_and_array(tmp_path):
    features = np.zeros((4, 2, 3), dtype=np.float32)
    features[2, 1, 0] = np.nan
    path = tmp_path / "bad.h5"
    with pytest.raises(DataError) as info:
        with _writer(path) as writer:
            writer.write_split("train", make_split({"text": features}, np.zeros((4, 2))))
    assert "bad.h5" in str(info.value) and "/train/features/text" in str(info.value) and "NaN" in str(info.value)
    assert not path.exists()
    assert not list(tmp_path.iterdir()), "an interrupted write must leave nothing behind"


def test_infinities_are_zeroed_and_counted(tmp_path):
    features = np.ones((3, 2, 3), dtype=np.float32)
    features[0, 0, 0] = -np.inf
    features[1, 1, 2] = np.inf
    split = make_split({"text": features}, np.eye(2)[[0, 1, 0]])
    with _writer(tmp_path / "inf.h5") as writer:
        writer.write_split("train", split)
        writer.write_split("test", split)
    assert writer.inf_replaced == 4
    stored = load_canonical(tmp_path / "inf.h5").train.to_memory().features["text"]
    assert stored[0, 0, 0] == 0 and stored[1, 1, 2] == 0 and np.isfinite(stored).all()


@pytest.mark.parametrize(
    "labels, lengths, message",
    [
        (np.array([[0, 2], [1, 0]]), None, "labels must be 0 or 1"),
        (np.array([[0, 1, 0], [1, 0, 0]]), None, r"expected \(N, 2\)"),
        (np.array([[0, 1], [1, 0]]), np.array([1, 5]), "lengths must be within 0..2"),
    ],
)
def test_bad_arrays_are_refused(tmp_path, labels, lengths, message):
    features = np.zeros((2, 2, 3), dtype=np.float32)
    with pytest.raises(DataError, match=message):
        with _writer(tmp_path / "bad.h5") as writer:
            writer.create_split("train", n=2, steps={"text": 2})
            writer.write_rows("train", features={"text": features}, labels=labels,
                              lengths=None if lengths is None else {"text": lengths})
    assert not (tmp_path / "bad.h5").exists()


def test_wrong_feature_shape_is_refused(tmp_path):
    with pytest.raises(DataError, match=r"/train/features/text: shape \(2, 2, 4\)"):
        with _writer(tmp_path / "bad.h5") as writer:
            writer.create_split("train", n=2, steps={"text": 2})
            writer.write_rows("train", features={"text": np.zeros((2, 2, 4))}, labels=np.zeros((2, 2)))


def test_float16_refuses_values_that_do_not_fit(tmp_path):
    features = np.full((2, 1, 3), 1e6, dtype=np.float32)
    with pytest.raises(DataError, match="do not fit in float16"):
        with _writer(tmp_path / "half.h5", dtype="float16") as writer:
            writer.write_split("train", make_split({"text": features}, np.zeros((2, 2))))


def test_float16_storage_halves_the_features(tmp_path):
    dataset = make_tiny_dataset()
    path = write_dataset(tmp_path / "half.h5", dataset, dtype="float16")
    stored = load_canonical(path)
    assert stored.train.features["text"].dtype == np.float16
    np.testing.assert_allclose(stored.train.to_memory().features["text"], dataset.train.features["text"], atol=1e-2)


def test_single_label_rows_need_one_positive(tmp_path):
    with pytest.raises(DataError, match="exactly one positive"):
        with _writer(tmp_path / "s.h5", single_label=True) as writer:
            writer.write_split("train", make_split({"text": np.zeros((2, 1, 3))}, np.array([[1, 1], [0, 1]])))


def test_corrupted_file_gives_a_clear_error(tmp_path):
    path = tmp_path / "broken.h5"
    path.write_bytes(b"this is not hdf5" * 10)
    with pytest.raises(DataError, match="broken.h5: not a readable HDF5 file"):
        load_canonical(path)
    with h5py.File(tmp_path / "foreign.h5", "w") as handle:
        handle.create_dataset("x", data=[1, 2])
    with pytest.raises(DataError, match="attribute 'schema_version' missing"):
        load_canonical(tmp_path / "foreign.h5")


def _labels_with_rare_ones(n=600, seed=3) -> np.ndarray:
    """Six labels from common to rare (about 45% down to 2%), with co-occurrence."""
    rng = np.random.default_rng(seed)
    return (rng.random((n, 6)) < np.array([0.45, 0.3, 0.2, 0.1, 0.05, 0.02])).astype(np.uint8)


def _off_by(labels, valid_mask, fraction) -> float:
    """The largest gap, in samples, between a label's positives in valid and its fair share."""
    return float(np.abs(labels[valid_mask].sum(0) - fraction * labels.sum(0)).max())


STRATIFIED_TOLERANCE = 1.5  # samples per label: iterative stratification is within about one


def test_validation_carving_is_iteratively_stratified_deterministic_and_disjoint():
    labels = _labels_with_rare_ones()
    split = make_split({"text": np.zeros((len(labels), 2, 3))}, labels, ids=np.arange(len(labels)).astype(str))
    train, valid = carve_validation(split, 0.1, seed=0)
    again_train, again_valid = carve_validation(split, 0.1, seed=0)
    assert len(train) + len(valid) == len(labels) and len(valid) == 60
    np.testing.assert_array_equal(valid.ids, again_valid.ids)
    assert not set(train.ids) & set(valid.ids)
    assert list(valid.ids) == sorted(valid.ids, key=int)  # the original order is kept
    valid_mask = np.isin(split.ids, valid.ids)
    assert _off_by(labels, valid_mask, 0.1) <= STRATIFIED_TOLERANCE
    other = carve_validation(split, 0.1, seed=1)[1]
    assert set(other.ids) != set(valid.ids)  # the seed matters


def test_the_stratification_tolerance_fails_unstratified_carves():
    # The tolerance above must be tight enough to catch a carve that ignores the labels.
    labels = _labels_with_rare_ones()
    for seed in range(10):
        valid_mask = np.zeros(len(labels), dtype=bool)
        valid_mask[np.random.default_rng(seed).permutation(len(labels))[:60]] = True
        assert _off_by(labels, valid_mask, 0.1) > STRATIFIED_TOLERANCE, seed


def test_with_validation_carves_when_the_split_is_absent_and_when_it_is_empty():
    absent = make_tiny_dataset(n_train=200, n_valid=16, n_test=10)
    absent.valid = None
    empty = make_tiny_dataset(n_train=200, n_valid=0, n_test=10)
    assert empty.valid is not None and len(empty.valid) == 0
    for dataset in (absent, empty):
        carved = with_validation(dataset, 0.2)
        assert 36 <= len(carved.valid) <= 44 and len(carved.train) + len(carved.valid) == 200
        assert carved.fingerprint != dataset.fingerprint
        assert any("iterative-stratification-v1" in note for note in carved.notes)
    present = make_tiny_dataset(n_train=200, n_valid=16, n_test=10)
    assert with_validation(present, 0.2) is present
    off = with_validation(make_tiny_dataset(n_train=200, n_valid=0, n_test=10), 0)
    assert off.valid is None and any("no validation split" in note for note in off.notes)


def test_carved_splits_from_a_file_stay_lazy(tmp_path):
    dataset = make_tiny_dataset(n_train=200, n_valid=0, n_test=10)
    dataset.valid = None
    stored = load_canonical(write_dataset(tmp_path / "novalid.h5", dataset))
    assert stored.valid is None
    carved = with_validation(stored, 0.2)
    assert not isinstance(carved.train.features["text"], np.ndarray)  # nothing read yet
    rows = np.array([3, 0, 7])
    original_rows = np.flatnonzero(np.isin(dataset.train.ids, carved.valid.ids))[rows]
    np.testing.assert_array_equal(carved.valid.take(rows).features["audio"], dataset.train.features["audio"][original_rows])
    assert len(carved.train) + len(carved.valid) == 200


def test_a_writer_whose_target_is_a_directory_fails_cleanly(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    with pytest.raises(DataError, match=r"taken: cannot write the dataset there .*give a file path ending in \.h5"):
        write_dataset(target, make_tiny_dataset())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]  # no temporary file left
