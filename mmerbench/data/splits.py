"""Split / Dataset containers and the lazy row view.

A :class:`Split` holds, per modality, right-padded features (N, T_m, D_m) and
valid lengths (N,), plus labels (N, q) in {0, 1}, optional ids and optional
per-sample ``meta`` arrays. Feature arrays may be h5py datasets, so MOSEI-size
unaligned data never has to sit in memory: ``split.take(indices)`` reads just
those rows. The canonical file form is :mod:`mmerbench.data.canonical`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Iterator, Mapping, Sequence

import numpy as np

from mmerbench.data.integrity import read_error

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SPLIT_NAMES = ("train", "valid", "test")
FLOAT16_MAX = float(np.finfo(np.float16).max)
VALIDATION_RULE = "iterative-stratification-v1"  # a new rule is a new "splits" fingerprint




# --------------------------------------------------------------------------- containers


@dataclass
class Split:
    """One split. ``features``/``lengths`` are keyed by modality, in the dataset's order."""

    features: dict[str, object]  # modality -> (N, T_m, D_m) np.ndarray or h5py.Dataset
    lengths: dict[str, np.ndarray]  # modality -> (N,) int, 0 = modality missing
    labels: np.ndarray  # (N, q) uint8 in {0, 1}
    ids: np.ndarray | None = None  # (N,) str
    meta: dict[str, np.ndarray] = field(default_factory=dict)  # key -> (N, ...)
    label_names: tuple[str, ...] = ()
    single_label: bool = False

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def n_labels(self) -> int:
        return int(self.labels.shape[1])

    @property
    def modalities(self) -> list[str]:
        return list(self.features)

    @property
    def modality_dims(self) -> dict[str, int]:
        return {m: int(array.shape[-1]) for m, array in self.features.items()}

    @property
    def steps(self) -> dict[str, int]:
        return {m: int(array.shape[1]) for m, array in self.features.items()}

    def take(self, indices: Sequence[int] | np.ndarray) -> "Split":
        """An in-memory Split of these rows, in this order (float32 features)."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
            raise IndexError(f"indices out of range for a split of {len(self)} samples")
        return Split(
            features={m: _read_rows(a, indices, np.float32) for m, a in self.features.items()},
            lengths={m: np.asarray(a)[indices].astype(np.int64) for m, a in self.lengths.items()},
            labels=np.asarray(self.labels)[indices],
            ids=None if self.ids is None else np.asarray(self.ids)[indices],
            meta={k: _read_rows(v, indices, None) for k, v in self.meta.items()},
            label_names=self.label_names,
            single_label=self.single_label,
        )

    def batches(self, batch_size: int, order: np.ndarray | None = None) -> Iterator[tuple[np.ndarray, "Split"]]:
        """Yield ``(indices, in-memory Split)`` for consecutive chunks of ``order``."""
        order = np.arange(len(self)) if order is None else np.asarray(order)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            yield chunk, self.take(chunk)

    def subset(self, indices: Sequence[int] | np.ndarray) -> "Split":
        """These rows as a Split that reads lazily-stored features only when taken."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        return Split(
            features={m: a[indices] if isinstance(a, np.ndarray) else RowSubset(a, indices)
                      for m, a in self.features.items()},
            lengths={m: np.asarray(a)[indices] for m, a in self.lengths.items()},
            labels=np.asarray(self.labels)[indices],
            ids=None if self.ids is None else np.asarray(self.ids)[indices],
            meta={k: np.asarray(v)[indices] for k, v in self.meta.items()},
            label_names=self.label_names,
            single_label=self.single_label,
        )

    def to_memory(self) -> "Split":
        return self.take(np.arange(len(self)))


class RowSubset:
    """Some rows of a lazily-read array (an h5py dataset), read only when taken."""

    def __init__(self, array, rows: np.ndarray):
        self.array, self.rows = array, rows
        self.shape = (len(rows),) + tuple(array.shape[1:])
        self.dtype = array.dtype
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return len(self.rows)


def _read_rows(array, indices: np.ndarray, dtype) -> np.ndarray:
    """Rows of a numpy array or an h5py dataset (which needs sorted, unique indices)."""
    if isinstance(array, RowSubset):
        return _read_rows(array.array, array.rows[indices], dtype)
    if isinstance(array, np.ndarray):
        out = array[indices]
    else:
        try:
            out = _read_h5_rows(array, indices)
        except OSError as exc:  # a fletcher32 mismatch or a truncated file
            raise read_error(array.file.filename, array.name, exc) from None
    if dtype is not None and out.dtype != dtype:
        out = out.astype(dtype)
    return out


def _read_h5_rows(array, indices: np.ndarray) -> np.ndarray:
    if indices.size == 0:
        out = np.zeros((0,) + tuple(array.shape[1:]), dtype=array.dtype)
    elif indices.size > 1 and np.all(np.diff(indices) == 1):
        out = array[int(indices[0]) : int(indices[-1]) + 1]
    else:
        # h5py's fancy (list) indexing is ~10x slower than reading runs of consecutive rows as slices.
        unique, inverse = np.unique(indices, return_inverse=True)
        breaks = np.flatnonzero(np.diff(unique) != 1) + 1
        runs = np.split(unique, breaks)
        out = np.concatenate([array[int(run[0]) : int(run[-1]) + 1] for run in runs])[inverse]
    return out


@dataclass
class Dataset:
    name: str
    train: Split
    valid: Split | None
    test: Split
    label_names: list[str]
    modalities: dict[str, int]  # ordered modality -> feature dim
    single_label: bool = False
    fingerprint: str = ""
    params: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    path: str | None = None
    # ``fingerprint`` names the splits a job uses; when a validation split was carved from train it differs
    # from the fingerprint of the data as stored (the file), which ``data verify`` recomputes.
    file_fingerprint: str = ""
    # train before carving (None when nothing was carved), so that a job seed can re-draw the carving
    uncarved_train: Split | None = field(default=None, repr=False)
    valid_seed: int | None = None  # the seed of the carving, when one was carved

    @property
    def fingerprints(self) -> dict[str, str]:
        """Both fingerprints, named: ``file`` (the data as stored) and ``splits`` (what a job trains on)."""
        return {"file": self.file_fingerprint or self.fingerprint, "splits": self.fingerprint}

    @property
    def splits(self) -> dict[str, Split]:
        out = {"train": self.train}
        if self.valid is not None:
            out["valid"] = self.valid
        out["test"] = self.test
        return out

    def summary(self) -> dict:
        return {
            "name": self.name,
            "fingerprint": self.fingerprint,
            "fingerprints": self.fingerprints,
            "label_names": list(self.label_names),
            "modalities": dict(self.modalities),
            "single_label": self.single_label,
            "sizes": {k: len(v) for k, v in self.splits.items()},
            "steps": {k: v.steps for k, v in self.splits.items()},
            "params": dict(self.params),
            "notes": list(self.notes),
        }


def make_split(
    features: Mapping[str, np.ndarray],
    labels: np.ndarray,
    lengths: Mapping[str, np.ndarray] | None = None,
    ids: np.ndarray | None = None,
    meta: Mapping[str, np.ndarray] | None = None,
    label_names: Sequence[str] | None = None,
    single_label: bool = False,
) -> Split:
    """Build an in-memory Split; missing lengths mean every step is valid."""
    labels = np.asarray(labels).astype(np.uint8)
    features = {m: np.asarray(a, dtype=np.float32) for m, a in features.items()}
    n = labels.shape[0]
    lengths = dict(lengths or {})
    for m, array in features.items():
        if m not in lengths:
            lengths[m] = np.full(n, array.shape[1], dtype=np.int64)
    names = tuple(label_names) if label_names else tuple(f"label_{i}" for i in range(labels.shape[1]))
    return Split(
        features=features,
        lengths={m: np.asarray(lengths[m], dtype=np.int64) for m in features},
        labels=labels,
        ids=None if ids is None else np.asarray(ids).astype(str),
        meta={k: np.asarray(v) for k, v in (meta or {}).items()},
        label_names=names,
        single_label=single_label,
    )


def make_dataset(name: str, train: Split, valid: Split | None, test: Split, *, params: dict | None = None) -> Dataset:
    """An in-memory Dataset whose fingerprint hashes its arrays (for tests and notebooks)."""
    hasher = hashlib.sha256()
    hasher.update(json.dumps([name, list(train.label_names), train.modality_dims, train.single_label]).encode())
    for split_name, split in (("train", train), ("valid", valid), ("test", test)):
        if split is None:
            continue
        hasher.update(split_name.encode())
        for m in split.features:
            hasher.update(np.ascontiguousarray(np.asarray(split.features[m], dtype=np.float32)).tobytes())
            hasher.update(np.ascontiguousarray(split.lengths[m]).astype(np.int64).tobytes())
        hasher.update(np.ascontiguousarray(split.labels).astype(np.uint8).tobytes())
    return Dataset(
        name=name,
        train=train,
        valid=valid,
        test=test,
        label_names=list(train.label_names),
        modalities=train.modality_dims,
        single_label=train.single_label,
        fingerprint=hasher.hexdigest()[:16],
        params=dict(params or {}),
    )
