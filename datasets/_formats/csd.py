"""CMU Multimodal SDK computational sequences (``.csd``, HDF5).

Layout (CMU-MultimodalSDK ``mmsdk/mmdatasdk/computational_sequence``): one
root group named after the sequence (e.g. ``All Labels``, ``COVAREP``), with
``data/<video_id>/features`` (n, d) and ``data/<video_id>/intervals`` (n, 2)
in seconds, and ``metadata``. Features are read per video, on demand.

These files are downloaded from others: every object is checked before it is read
(``mmerbench/io/hdf5_checks.py``: no external storage, external links or virtual datasets,
numbers only, an expansion limit).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmerbench.errors import DataError
from mmerbench.data.importing import expect_format
from mmerbench.io.hdf5_checks import check_dataset, checked_child, expansion_limit


class ComputationalSequence:
    def __init__(self, path: Path, what: str):
        import h5py

        expect_format(path, ("hdf5",), what)
        self.path = path
        try:
            self._file = h5py.File(path, "r")
        except OSError as exc:
            raise DataError(f"{path}: not a readable HDF5 file (truncated or corrupted?): {exc}") from None
        self.limit = expansion_limit(path)
        roots = [key for key in self._file if "data" in checked_child(self._file, key, f"{path}: /{key}")]
        if not roots:
            raise DataError(f"{path}: no root group with a 'data' group; found {list(self._file)}: "
                            "not a computational sequence")
        self.root = roots[0]
        self._data = checked_child(self._file[self.root], "data", f"{path}: /{self.root}/data")
        self.videos = list(self._data)
        if not self.videos:
            raise DataError(f"{path}: /{self.root}/data has no videos")
        first = self._data[self.videos[0]]
        self.dim = int(self.features_shape(self.videos[0])[1])
        del first

    def _entry(self, video: str, key: str):
        where = f"{self.path}: /{self.root}/data/{video}/{key}"
        if video not in self._data:
            raise DataError(f"{where} is missing")
        group = checked_child(self._data, video, f"{self.path}: /{self.root}/data/{video}")
        if key not in group:
            raise DataError(f"{where} is missing")
        array = checked_child(group, key, where)
        check_dataset(array, where, self.limit, home=self._file)
        return array, where

    def features_shape(self, video: str) -> tuple[int, int]:
        array, where = self._entry(video, "features")
        if array.ndim != 2:
            raise DataError(f"{where}: shape {array.shape}, expected (n, d)")
        return array.shape

    def intervals(self, video: str) -> np.ndarray:
        array, where = self._entry(video, "intervals")
        intervals = np.asarray(array[()], dtype=np.float64)
        n = self.features_shape(video)[0]
        if intervals.shape != (n, 2):
            raise DataError(f"{where}: shape {intervals.shape}, expected ({n}, 2) to match the features")
        return intervals

    def features(self, video: str) -> np.ndarray:
        array, where = self._entry(video, "features")
        if array.shape[1] != self.dim:
            raise DataError(f"{where}: dim {array.shape[1]}, other videos have {self.dim}")
        return np.asarray(array[()], dtype=np.float32)

    def __contains__(self, video: str) -> bool:
        return video in self._data

    def close(self) -> None:
        self._file.close()


def frames_within(intervals: np.ndarray, start: float, end: float) -> np.ndarray:
    """Indices of the frames whose midpoint lies in [start, end), in time order."""
    middle = intervals.mean(axis=1)
    inside = np.flatnonzero((middle >= start) & (middle < end))
    return inside[np.argsort(middle[inside], kind="stable")]
