"""Perturbed copies of a split that cost nothing until rows are read.

A robustness condition (a modality removed, samples' modalities dropped at a
rate, Gaussian noise added) must not copy a MOSEI-size test split: the arrays
here wrap the original feature array and change rows only when a batch is
read (``Split.take`` / ``Split.batches``), the way h5py datasets are read. The
same row always gets the same perturbation, whatever batch it is read in:
noise is drawn from a stream seeded by (seed, condition, modality, row).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np

from mmerbench.data.splits import Split, _read_rows
from mmerbench.errors import UsageError

TRAIN_MISSING_RULE = "train-missing-v1"
_TRAIN_MISSING_STREAM = 40961


class LazyRows:
    """Array-like (N, T, D) whose rows are computed on read; what ``_read_rows`` and h5py-style
    slicing need: ``shape``, ``dtype``, ``ndim``, ``len`` and ``[start:stop]`` / ``[indices]`` / ``[()]``."""

    def __init__(self, shape, dtype=np.float32):
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        if key == () or key is Ellipsis:
            return self._rows(np.arange(self.shape[0]))
        if isinstance(key, slice):
            return self._rows(np.arange(self.shape[0])[key])
        if isinstance(key, (int, np.integer)):
            return self._rows(np.array([int(key)]))[0]
        return self._rows(np.asarray(key, dtype=np.int64).reshape(-1))

    def __array__(self, dtype=None, copy=None):
        out = self[()]
        return out if dtype is None else out.astype(dtype)

    def _rows(self, indices: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class ZeroRows(LazyRows):
    """A removed modality: zeros of the original shape, never read from the source."""

    def _rows(self, indices):
        return np.zeros((len(indices),) + self.shape[1:], dtype=self.dtype)


class MaskedRows(LazyRows):
    """The source's rows, with the rows where ``keep`` is False zeroed."""

    def __init__(self, source, keep: np.ndarray):
        super().__init__(source.shape, np.float32)
        self.source, self.keep = source, np.asarray(keep, dtype=bool)

    def _rows(self, indices):
        out = _read_rows(self.source, indices, np.float32).copy()
        out[~self.keep[indices]] = 0.0
        return out


class NoisyRows(LazyRows):
    """The source's rows plus Gaussian noise of per-dimension ``scale`` (D,) on each row's valid steps."""

    def __init__(self, source, lengths: np.ndarray, scale: np.ndarray, stream: tuple[int, ...]):
        super().__init__(source.shape, np.float32)
        self.source, self.lengths = source, np.asarray(lengths, dtype=np.int64)
        self.scale, self.stream = np.asarray(scale, dtype=np.float32), tuple(int(s) for s in stream)

    def _rows(self, indices):
        out = _read_rows(self.source, indices, np.float32).copy()
        steps, dim = self.shape[1], self.shape[2]
        for position, row in enumerate(indices):
            valid = min(int(self.lengths[row]), steps)
            if valid == 0:
                continue
            rng = np.random.default_rng([*self.stream, int(row)])
            out[position, :valid] += rng.standard_normal((valid, dim), dtype=np.float32) * self.scale
        return out


def with_modalities(split: Split, present) -> Split:
    """The split with every modality outside ``present`` removed (length 0, zero features)."""
    present = set(present)
    features, lengths = {}, {}
    for m, array in split.features.items():
        if m in present:
            features[m], lengths[m] = array, split.lengths[m]
        else:
            features[m], lengths[m] = ZeroRows(array.shape), np.zeros(len(split), dtype=np.int64)
    return replace(split, features=features, lengths=lengths)


def drop_mask(lengths: dict[str, np.ndarray], rate, rng: np.random.Generator) -> np.ndarray:
    """(N, M) True where a modality is dropped: each present one independently at ``rate`` (one rate, or
    one per modality in the order of ``lengths``), at least one present modality kept per sample
    (MissMAC-Bench's instance-level pattern). A modality of rate 0 is never dropped, nor given back."""
    present = np.stack([np.asarray(v) > 0 for v in lengths.values()], axis=1)
    rate = np.asarray(rate, dtype=np.float64)
    if rate.ndim and rate.shape != (present.shape[1],):
        raise ValueError(f"drop_mask: {rate.shape[0]} rates for {present.shape[1]} modalities ({list(lengths)})")
    dropped = (rng.random(present.shape) < rate) & present
    emptied = np.flatnonzero(present.any(axis=1) & ~(present & ~dropped).any(axis=1))
    choice = rng.random(present.shape)
    for row in emptied:  # keep one of the sample's present modalities, chosen at random
        candidates = np.flatnonzero(present[row])
        dropped[row, candidates[np.argmax(choice[row, candidates])]] = False
    return dropped


def with_dropped(split: Split, dropped: np.ndarray) -> Split:
    """The split with modality k of sample i removed wherever ``dropped[i, k]``."""
    features, lengths = {}, {}
    for k, (m, array) in enumerate(split.features.items()):
        keep = ~dropped[:, k]
        features[m] = array if keep.all() else MaskedRows(array, keep)
        lengths[m] = np.where(keep, np.asarray(split.lengths[m]), 0).astype(np.int64)
    return replace(split, features=features, lengths=lengths)


def with_noise(split: Split, scales: dict[str, np.ndarray], stream: tuple[int, ...]) -> Split:
    """The split with Gaussian noise of per-dimension ``scales[m]`` added to modality m's valid steps."""
    features = dict(split.features)
    for k, m in enumerate(split.features):
        if m in scales:
            features[m] = NoisyRows(split.features[m], split.lengths[m], scales[m], (*stream, k))
    return replace(split, features=features)


def feature_std(split: Split, chunk: int = 256) -> dict[str, np.ndarray]:
    """Per modality, the (D,) standard deviation of each feature dimension over the valid steps."""
    sums = {m: np.zeros(d) for m, d in split.modality_dims.items()}
    squares = {m: np.zeros(d) for m, d in split.modality_dims.items()}
    counts = {m: 0 for m in split.features}
    for start in range(0, len(split), chunk):
        part = split.take(np.arange(start, min(start + chunk, len(split))))
        for m, x in part.features.items():
            valid = np.arange(x.shape[1])[None, :] < part.lengths[m][:, None]
            values = x[valid].astype(np.float64)  # (valid steps, D)
            sums[m] += values.sum(axis=0)
            squares[m] += (values ** 2).sum(axis=0)
            counts[m] += len(values)
    out = {}
    for m in split.features:
        n = max(counts[m], 1)
        mean = sums[m] / n
        out[m] = np.sqrt(np.maximum(squares[m] / n - mean ** 2, 0.0))
    return out


def with_train_missing(dataset, rate: float):
    """The dataset with modalities dropped from its train and valid samples (``train_missing_rate``).

    Rule ``train-missing-v1``: each present modality of each train / valid
    sample is dropped independently with probability ``rate``, at least one
    kept, from a stream fixed by the rate and the split (not by the job seed:
    every seed of a method sees the same data, as with the dataset's own
    parameters). The test split is untouched; the rate and the rule enter
    the fingerprint.
    """
    if not 0.0 <= float(rate) < 1.0:
        raise UsageError(f"dataset {dataset.name}: train_missing_rate must be in [0, 1), got {rate}")
    if not rate:
        return dataset
    changed = {}
    for index, split_name in enumerate(("train", "valid")):
        split = getattr(dataset, split_name)
        if split is None:
            continue
        rng = np.random.default_rng([_TRAIN_MISSING_STREAM, index, int(round(float(rate) * 1e6))])
        changed[split_name] = with_dropped(split, drop_mask(split.lengths, float(rate), rng))
    tag = f"{dataset.fingerprint}|{TRAIN_MISSING_RULE}|rate={float(rate)!r}"
    return replace(
        dataset, **changed,
        fingerprint=hashlib.sha256(tag.encode()).hexdigest()[:16],
        params={**dataset.params, "train_missing_rate": float(rate)},
        notes=dataset.notes + [f"modalities dropped from train and valid at rate {rate:g} ({TRAIN_MISSING_RULE})"],
    )
