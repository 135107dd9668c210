"""Issue 20, "HDF5 and .csd imports": HDF5 objects are checked before a byte of them is read.

Each row is a ``.csd`` (CMU SDK computational sequence) built as the issue describes. On main external
storage pointing at another file imported that file's bytes as features (exit 0), external links and
virtual datasets were followed silently, a small gzip dataset expanded without limit, a lazily declared
(1e9, 8) dataset ended in a MemoryError and string features in a traceback.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from mmerbench.errors import DataError
from mmerbench.io import hdf5_checks
from mmerbench_datasets._formats.csd import ComputationalSequence


def _csd(path, write_features):
    with h5py.File(path, "w") as handle:
        video = handle.create_group("COVAREP/data/vid1")
        video.create_dataset("intervals", data=np.stack([np.arange(4.0), np.arange(4.0) + 1], axis=1))
        write_features(video, path)
    return path


def _secret(path):
    secret = path.parent / "secret.bin"
    secret.write_bytes(np.arange(32, dtype=np.float32).tobytes())
    return secret


def _other_file(path):
    other = path.parent / "other.h5"
    with h5py.File(other, "w") as handle:
        handle.create_dataset("x", data=np.ones((4, 8), dtype=np.float32))
    return other


def _virtual(video, path):
    layout = h5py.VirtualLayout(shape=(4, 8), dtype="f4")
    layout[:] = h5py.VirtualSource(str(_other_file(path)), "x", shape=(4, 8))
    video.create_virtual_dataset("features", layout)


ATTACKS = [
    pytest.param(lambda v, p: v.create_dataset("features", shape=(4, 8), dtype="f4",
                                               external=[(str(_secret(p)), 0, 128)]),
                 "uses HDF5 external storage", id="external-storage-of-another-file"),
    pytest.param(lambda v, p: v.__setitem__("features", h5py.ExternalLink(str(_other_file(p)), "/x")),
                 "is an external link to", id="external-link"),
    pytest.param(_virtual, "is a virtual dataset", id="virtual-dataset"),
    pytest.param(lambda v, p: v.create_dataset("features", data=np.array([["a"] * 8] * 4, dtype="S1")),
                 "has dtype .*features and labels must be numbers", id="string-features"),
    pytest.param(lambda v, p: v.create_dataset("features", shape=(10 ** 9, 8), dtype="f4", chunks=(1024, 8)),
                 "would expand to 32,000,000,000 bytes", id="lazily-declared-1e9-rows"),
    pytest.param(lambda v, p: v.create_dataset("features", data=np.zeros((300_000, 8)), compression="gzip",
                                               chunks=(50_000, 8)),
                 "would expand to 19,200,000 bytes", id="gzip-bomb"),
]


@pytest.mark.parametrize("write, message", ATTACKS)
def test_hdf5_objects_are_refused_before_reading(tmp_path, monkeypatch, write, message):
    monkeypatch.setattr(hdf5_checks, "BASE_ALLOWANCE", 1024 * 1024)  # keeps the gzip bomb small and fast
    path = _csd(tmp_path / "features.csd", write)
    with pytest.raises(DataError, match=message) as refused:
        sequence = ComputationalSequence(path, "--features")
        sequence.features("vid1")
    assert str(path) in str(refused.value)


def test_the_expansion_limit_is_documented_and_overridable(tmp_path, monkeypatch):
    monkeypatch.setattr(hdf5_checks, "BASE_ALLOWANCE", 1024 * 1024)
    path = _csd(tmp_path / "features.csd", lambda v, p: v.create_dataset(
        "features", data=np.zeros((300_000, 8)), compression="gzip", chunks=(50_000, 8)))
    with pytest.raises(DataError, match=f"Set {hdf5_checks.EXPANSION_ENV} higher"):
        ComputationalSequence(path, "--features").features("vid1")
    monkeypatch.setenv(hdf5_checks.EXPANSION_ENV, "1000000")  # a file the user trusts
    assert ComputationalSequence(path, "--features").features("vid1").shape == (300_000, 8)
    monkeypatch.setenv(hdf5_checks.EXPANSION_ENV, "nan")
    with pytest.raises(DataError, match="must be a finite number"):
        ComputationalSequence(path, "--features")
