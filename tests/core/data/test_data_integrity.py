"""A canonical file changed or damaged after it was written is caught before any job uses it (issue 8)."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

from mmerbench.cli.data import run as data_cli
from mmerbench.data import load_canonical, write_dataset
from mmerbench.errors import DataError
from mmerbench.data.integrity import stamp_path
from mmerbench.testing.fixtures import make_tiny_dataset


@pytest.fixture
def stored(tmp_path):
    """(path, fingerprint as written) of a small canonical file."""
    path = write_dataset(tmp_path / "tiny.h5", make_tiny_dataset())
    with h5py.File(path) as handle:
        return path, str(handle.attrs["fingerprint"])


def edit(path, action, keep_time: bool = False):
    """Change the file with h5py; ``keep_time`` puts its modification time back (size is unchanged)."""
    before = os.stat(path)
    with h5py.File(path, "r+") as handle:
        action(handle)
    if keep_time:
        assert os.stat(path).st_size == before.st_size
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def flip_label(handle):
    handle["test/labels"][0, 0] = 1 - handle["test/labels"][0, 0]


def test_features_are_checksummed_and_a_stamp_is_written(stored):
    path, fingerprint = stored
    with h5py.File(path) as handle:
        assert handle["train/features/text"].fletcher32
    assert stamp_path(path).exists()
    assert load_canonical(path).fingerprint == fingerprint


def test_changed_labels_are_caught_even_with_size_and_time_kept(stored):
    path, _ = stored
    edit(path, flip_label, keep_time=True)
    with pytest.raises(DataError, match=r"tiny.h5: /test/labels changed since the file was written.*"
                                        r"mmerbench data import tiny --force"):
        load_canonical(path)


def test_changed_ids_are_caught(stored):
    path, _ = stored
    edit(path, lambda handle: handle["train/ids"].__setitem__(0, "someone-else"), keep_time=True)
    with pytest.raises(DataError, match="/train/ids changed"):
        load_canonical(path)


def test_changed_features_change_the_time_and_trigger_a_full_recompute(stored):
    path, _ = stored
    edit(path, lambda handle: handle["valid/features/audio"].__setitem__((0, 0, 0), 42.0))
    with pytest.raises(DataError, match=r"its content changed since it was written \(fingerprint stored \w+, "
                                        r"recomputed \w+\).*re-import"):
        load_canonical(path)
    assert data_cli(["data", "verify", str(path)]) == 1


def test_features_changed_with_the_time_kept_are_caught_by_verify(stored, capsys):
    path, _ = stored
    edit(path, lambda handle: handle["valid/features/audio"].__setitem__((0, 0, 0), 42.0), keep_time=True)
    load_canonical(path)  # the per-load checks do not read features: documented; verify does
    assert data_cli(["data", "verify", str(path)]) == 1
    err = capsys.readouterr().err
    assert "MISMATCH" in err and "changed arrays: valid/features/audio" in err


def test_a_file_without_its_stamp_is_recomputed_once_and_stamped_again(stored):
    path, fingerprint = stored
    stamp_path(path).unlink()
    assert load_canonical(path).fingerprint == fingerprint
    assert stamp_path(path).exists()


def test_an_edited_fingerprint_attribute_is_caught(stored):
    path, _ = stored
    edit(path, lambda handle: handle.attrs.__setitem__("fingerprint", "0123456789abcdef"))
    with pytest.raises(DataError, match="does not match the stored array digests"):
        load_canonical(path)


@pytest.mark.parametrize("change, message", [
    (lambda h: h["train/labels"].__setitem__((0, 0), 2), r"/train/labels must be 0 or 1, found \[2\]"),
    (lambda h: h["test/lengths/text"].__setitem__(0, 99), r"/test/lengths/text must be within 0\.\.6"),
    (lambda h: h["test/lengths/audio"].__setitem__(0, -1), r"/test/lengths/audio must be within 0\.\.9"),
])
def test_invalid_small_arrays_are_refused_on_load(stored, change, message):
    path, _ = stored
    edit(path, change, keep_time=True)
    with pytest.raises(DataError, match=message):
        load_canonical(path)


def _rot_one_chunk(path, array="train/features/text"):
    with h5py.File(path) as handle:
        info = handle[array].id.get_chunk_info(0)
    before = os.stat(path)
    with open(path, "r+b") as raw:
        raw.seek(info.byte_offset + info.size // 2)
        byte = raw.read(1)
        raw.seek(-1, os.SEEK_CUR)
        raw.write(bytes([byte[0] ^ 0xFF]))
    return before


def test_bit_rot_in_a_feature_chunk_names_the_file_and_the_array(stored):
    path, _ = stored
    before = _rot_one_chunk(path)
    # The time changed: the load recomputes the fingerprint and the checksum fails there.
    with pytest.raises(DataError, match=r"tiny.h5: /train/features/text: the stored data cannot be read.*damaged"):
        load_canonical(path)
    # With the time put back the load passes, and the first read of those rows fails, naming the array.
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    dataset = load_canonical(path)
    with pytest.raises(DataError, match=r"tiny.h5: /train/features/text: the stored data cannot be read"):
        dataset.train.take([0, 1])
    assert data_cli(["data", "verify", str(path)]) == 1


def test_verify_on_a_sound_file_passes_and_refreshes_the_stamp(stored, capsys):
    path, _ = stored
    stamp_path(path).unlink()
    assert data_cli(["data", "verify", str(path)]) == 0
    assert "OK" in capsys.readouterr().out and stamp_path(path).exists()


def test_a_changed_synthetic_cache_file_is_generated_again(monkeypatch, tmp_path):
    import mmerbench

    monkeypatch.setenv("MMERBENCH_HOME", str(tmp_path))
    params = dict(n_train=30, n_valid=10, n_test=10, steps=6, text_dim=4, audio_dim=3, vision_dim=2, seed=11)
    first = mmerbench.load_dataset("synthetic", **params)
    edit(first.path, lambda handle: handle["train/labels"].__setitem__((0, 0), 1 - handle["train/labels"][0, 0]))
    again = mmerbench.load_dataset("synthetic", **params)
    assert again.fingerprint == first.fingerprint
    np.testing.assert_array_equal(again.train.labels, first.train.labels)
