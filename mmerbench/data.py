"""Split / Dataset containers and the canonical HDF5 form.

A :class:`Split` holds, per modality, right-padded features (N, T_m, D_m) and
valid lengths (N,), plus labels (N, q) in {0, 1}, optional ids and optional
per-sample ``meta`` arrays. Feature arrays may be h5py datasets, so MOSEI-size
unaligned data never has to sit in memory: ``split.take(indices)`` reads just
those rows.

The canonical file ``$MMERBENCH_HOME/data/NAME.h5`` is written only through
:class:`CanonicalWriter`, which validates every chunk, writes to a temporary
name and renames it when complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np

from mmerbench.errors import DataError
from mmerbench.integrity import DIGESTS_ATTR, ids_bytes, read_error, write_stamp
from mmerbench.paths import canonical_path, data_dir, mmerbench_home  # noqa: F401 (re-exported)

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


# --------------------------------------------------------------------------- validation split


def carve_validation(train: Split, fraction: float, seed: int = 0) -> tuple[Split, Split]:
    """Split ``train`` into (train, valid) by iterative stratification.

    Rule (``iterative-stratification-v1``): Sechidis et al.'s iterative
    stratification (2011), as implemented by the maintained
    ``iterative-stratification`` package (``MultilabelStratifiedShuffleSplit``
    with ``test_size=fraction`` and ``random_state=seed``): labels are served
    rarest first, so each label's positives are shared between the parts in
    proportion to their sizes, rare labels and rare combinations included.
    Deterministic given ``seed``. Both parts keep the original sample order.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"valid_fraction must be in (0, 1), got {fraction}")
    from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

    labels = np.asarray(train.labels).astype(np.int64)
    n = labels.shape[0]
    if labels.shape[1] == 1:  # one label reads as "binary", not multi-label: add its complement
        labels = np.hstack([labels, 1 - labels])
    if n < 2:
        raise DataError(f"cannot carve a validation split of fraction {fraction} from {n} samples")
    splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    _, valid_rows = next(splitter.split(np.zeros((n, 1)), labels))
    valid_mask = np.zeros(n, dtype=bool)
    valid_mask[valid_rows] = True
    if not valid_mask.any() or valid_mask.all():
        raise DataError(f"cannot carve a validation split of fraction {fraction} from {n} samples")
    # Subsets, not copies: a MOSEI-size train split stays on disk.
    return train.subset(np.flatnonzero(~valid_mask)), train.subset(np.flatnonzero(valid_mask))


# --------------------------------------------------------------------------- writing


class CanonicalWriter:
    """Write a canonical dataset file atomically, validating every chunk.

    Usage::

        with CanonicalWriter(path, name="x", label_names=[...], modalities={"text": 300}) as w:
            w.write_split("train", split)              # whole in-memory split, or
            w.create_split("test", n=..., steps={"text": 50}, meta_shapes={"noise": (3,)})
            w.write_rows("test", features=..., lengths=..., labels=...)   # sequential chunks

    On a clean exit the file is renamed into place; on an exception the
    temporary file is removed, so an interrupted write never leaves half a
    dataset.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        name: str,
        label_names: Sequence[str],
        modalities: Mapping[str, int],
        single_label: bool = False,
        dtype: str = "float32",
        source_sha256: Mapping[str, str] | None = None,
        attrs: Mapping[str, object] | None = None,
    ):
        if dtype not in ("float32", "float16"):
            raise ValueError(f"dtype must be 'float32' or 'float16', got {dtype!r}")
        self.path = Path(path)
        self.name = name
        self.label_names = list(label_names)
        self.modalities = {m: int(d) for m, d in modalities.items()}
        self.single_label = bool(single_label)
        self.dtype = np.dtype(dtype)
        self.source_sha256 = dict(source_sha256 or {})
        self.extra_attrs = dict(attrs or {})
        self.inf_replaced = 0
        self._file = None
        self._tmp_path: Path | None = None
        self._written: dict[str, int] = {}
        self._sizes: dict[str, int] = {}
        self._hashers: dict[tuple[str, str], "hashlib._Hash"] = {}
        self._ids_hashers: dict[str, "hashlib._Hash"] = {}
        self.fingerprint: str | None = None

    def __enter__(self) -> "CanonicalWriter":
        import h5py

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp_path = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
        self._file = h5py.File(self._tmp_path, "w")
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._finish()
        finally:
            if self._file is not None:
                self._file.close()
                self._file = None
            if exc_type is not None and self._tmp_path is not None:
                self._tmp_path.unlink(missing_ok=True)
        if exc_type is None:
            try:
                os.replace(self._tmp_path, self.path)
            except OSError as error:  # e.g. the target is a directory: leave no temporary file behind
                self._tmp_path.unlink(missing_ok=True)
                raise DataError(f"{self.path}: cannot write the dataset there ({error.strerror or error}); "
                                "give a file path ending in .h5") from None
            write_stamp(self.path, self.fingerprint)  # size and time as written: a later change is noticed

    # -- structure ----------------------------------------------------------------------

    def create_split(
        self,
        split: str,
        *,
        n: int,
        steps: Mapping[str, int],
        with_ids: bool = False,
        meta_shapes: Mapping[str, tuple] | None = None,
    ) -> None:
        if split not in SPLIT_NAMES:
            raise ValueError(f"split must be one of {SPLIT_NAMES}, got {split!r}")
        if split in self._sizes:
            raise ValueError(f"split {split!r} was already created")
        missing = set(self.modalities) - set(steps)
        if missing:
            raise DataError(f"{self.path}: split {split!r} has no steps for modalities {sorted(missing)}")
        group = self._file.create_group(split)
        for m, dim in self.modalities.items():
            t = max(int(steps[m]), 1)
            # Chunked by sample (a few small samples share a chunk) so that a
            # shuffled mini-batch reads only its own rows.
            chunk_rows = max(1, min(n, (64 << 10) // max(1, t * dim * self.dtype.itemsize)))
            # fletcher32: a per-chunk checksum, so bit rot fails the read instead of feeding a model garbage.
            group.create_dataset(
                f"features/{m}", shape=(n, t, dim), dtype=self.dtype, chunks=(chunk_rows, t, dim) if n else None,
                fletcher32=bool(n),
            )
            group.create_dataset(f"lengths/{m}", shape=(n,), dtype=np.int32)
        group.create_dataset("labels", shape=(n, len(self.label_names)), dtype=np.uint8)
        if with_ids:
            import h5py

            group.create_dataset("ids", shape=(n,), dtype=h5py.string_dtype())
        for key, shape in (meta_shapes or {}).items():
            group.create_dataset(f"meta/{key}", shape=(n,) + tuple(shape), dtype=np.float32)
        self._sizes[split] = n
        self._written[split] = 0

    def write_split(self, split: str, data: Split) -> None:
        self.create_split(
            split,
            n=len(data),
            steps=data.steps,
            with_ids=data.ids is not None,
            meta_shapes={k: np.asarray(v).shape[1:] for k, v in data.meta.items()},
        )
        for start in range(0, max(len(data), 1), 4096):
            rows = np.arange(start, min(start + 4096, len(data)))
            if rows.size == 0:
                break
            part = data.take(rows)
            self.write_rows(split, features=part.features, lengths=part.lengths, labels=part.labels,
                            ids=part.ids, meta=part.meta)

    def write_rows(
        self,
        split: str,
        *,
        features: Mapping[str, np.ndarray],
        labels: np.ndarray,
        lengths: Mapping[str, np.ndarray] | None = None,
        ids: np.ndarray | None = None,
        meta: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        """Append rows to ``split`` (chunks must come in order)."""
        if split not in self._sizes:
            raise ValueError(f"create split {split!r} before writing rows")
        group = self._file[split]
        start = self._written[split]
        labels = np.asarray(labels)
        n = labels.shape[0]
        if start + n > self._sizes[split]:
            raise DataError(f"{self.path}: {split}: writing rows {start}..{start + n} past its {self._sizes[split]} samples")
        self._check_labels(split, labels)
        for m in self.modalities:
            if m not in features:
                raise DataError(f"{self.path}: {split}: modality {m!r} missing from the features written")
            target = group[f"features/{m}"]
            array = self._check_features(split, m, np.asarray(features[m]), n, target.shape)
            length = (np.full(n, target.shape[1]) if lengths is None or m not in lengths
                      else np.asarray(lengths[m]))
            self._check_lengths(split, m, length, n, target.shape[1])
            target[start : start + n] = array
            group[f"lengths/{m}"][start : start + n] = length.astype(np.int32)
            self._hash(split, f"features/{m}", array)
            self._hash(split, f"lengths/{m}", length.astype(np.int32))
        group["labels"][start : start + n] = labels.astype(np.uint8)
        self._hash(split, "labels", labels.astype(np.uint8))
        if "ids" in group:
            if ids is None:
                raise DataError(f"{self.path}: {split}: ids were declared but not given")
            ids = np.asarray(ids).astype(str)
            group["ids"][start : start + n] = ids.astype(object)
            self._ids_hashers.setdefault(split, hashlib.sha256()).update(ids_bytes(ids.tolist()))
        for key, value in (meta or {}).items():
            if f"meta/{key}" not in group:
                raise DataError(f"{self.path}: {split}: meta key {key!r} was not declared in create_split")
            group[f"meta/{key}"][start : start + n] = np.asarray(value, dtype=np.float32)
        self._written[split] = start + n

    # -- validation ----------------------------------------------------------------------

    def _check_labels(self, split: str, labels: np.ndarray) -> None:
        where = f"{self.path}: /{split}/labels"
        q = len(self.label_names)
        if labels.ndim != 2 or labels.shape[1] != q:
            raise DataError(f"{where}: shape {labels.shape}, expected (N, {q}) for labels {self.label_names}")
        if not np.isin(labels, (0, 1)).all():
            bad = np.unique(labels[~np.isin(labels, (0, 1))])[:5]
            raise DataError(f"{where}: labels must be 0 or 1, found {bad.tolist()}")
        if self.single_label:
            counts = labels.sum(axis=1)
            if not (counts == 1).all():
                row = int(np.flatnonzero(counts != 1)[0])
                raise DataError(f"{where}: single-label data needs exactly one positive per row; row {row} has {int(counts[row])}")

    def _check_features(self, split, m, array, n, shape) -> np.ndarray:
        where = f"{self.path}: /{split}/features/{m}"
        if array.ndim == 2:  # (N, D) vectors are one-step sequences
            array = array[:, None, :]
        if array.ndim != 3 or array.shape[0] != n or array.shape[2] != shape[2] or array.shape[1] > shape[1]:
            raise DataError(f"{where}: shape {array.shape}, expected ({n}, <= {shape[1]}, {shape[2]})")
        if array.shape[1] < shape[1]:  # right-pad shorter chunks
            padded = np.zeros((n, shape[1], shape[2]), dtype=np.float32)
            padded[:, : array.shape[1]] = array
            array = padded
        array = array.astype(np.float32, copy=True)
        nan = np.isnan(array)
        if nan.any():
            row = int(np.argwhere(nan)[0][0])
            raise DataError(f"{where}: {int(nan.sum())} NaN values (first in row {row}); clean or impute them before importing")
        inf = np.isinf(array)
        if inf.any():
            count = int(inf.sum())
            self.inf_replaced += count
            log.warning("%s: replaced %d infinite values with 0", where, count)
            array[inf] = 0.0
        if self.dtype == np.float16:
            peak = float(np.abs(array).max()) if array.size else 0.0
            if peak > FLOAT16_MAX:
                raise DataError(
                    f"{where}: values up to {peak:.4g} do not fit in float16 (max {FLOAT16_MAX:.0f}); "
                    "store this dataset as float32 (--dtype float32) or rescale the features"
                )
            array = array.astype(np.float16)
        return array

    def _check_lengths(self, split, m, length, n, steps) -> None:
        where = f"{self.path}: /{split}/lengths/{m}"
        if length.shape != (n,):
            raise DataError(f"{where}: shape {length.shape}, expected ({n},)")
        if (length < 0).any() or (length > steps).any():
            raise DataError(f"{where}: lengths must be within 0..{steps}, found {int(length.min())}..{int(length.max())}")

    def _hash(self, split: str, key: str, array: np.ndarray) -> None:
        hasher = self._hashers.setdefault((split, key), hashlib.sha256())
        hasher.update(np.ascontiguousarray(array).tobytes())

    def _finish(self) -> None:
        for split, size in self._sizes.items():
            if self._written[split] != size:
                raise DataError(f"{self.path}: split {split!r} has {self._written[split]} of {size} rows written")
        if "train" not in self._sizes or "test" not in self._sizes:
            raise DataError(f"{self.path}: a dataset needs at least train and test splits, got {sorted(self._sizes)}")
        digests = {split_key: hasher.hexdigest() for split_key, hasher in self._hashers.items()}
        fingerprint = combine_digests(self.label_names, self.modalities, self.single_label, digests)
        attrs = self._file.attrs
        attrs["schema_version"] = SCHEMA_VERSION
        attrs["name"] = self.name
        attrs["label_names"] = json.dumps(self.label_names)
        attrs["modalities"] = json.dumps([{"name": m, "dim": d} for m, d in self.modalities.items()])
        attrs["single_label"] = self.single_label
        attrs["source_sha256"] = json.dumps(self.source_sha256)
        attrs["fingerprint"] = fingerprint
        # Per-array digests (ids too, though the fingerprint leaves them out): loads re-hash the small arrays.
        stored = {f"{split}/{key}": digest for (split, key), digest in digests.items()}
        stored.update({f"{split}/ids": hasher.hexdigest() for split, hasher in self._ids_hashers.items()})
        attrs[DIGESTS_ATTR] = json.dumps(stored, sort_keys=True)
        self.fingerprint = fingerprint
        from mmerbench import __version__

        attrs["created_by"] = f"mmerbench {__version__}"
        for key, value in self.extra_attrs.items():
            attrs[key] = value if isinstance(value, (int, float, str, bool)) else json.dumps(value)


def combine_digests(label_names, modalities: Mapping[str, int], single_label: bool,
                    digests: Mapping[tuple[str, str], str]) -> str:
    """A canonical file's fingerprint from the sha256 of each of its arrays, keyed (split, array)."""
    outer = hashlib.sha256()
    outer.update(json.dumps([list(label_names), dict(modalities), bool(single_label)]).encode())
    for (split, key), digest in sorted(digests.items()):
        outer.update(f"{split}/{key}:{digest}".encode())
    return outer.hexdigest()[:16]


def write_dataset(path: str | Path, dataset: Dataset, dtype: str = "float32", **kwargs) -> Path:
    """Write an in-memory Dataset in the canonical form."""
    with CanonicalWriter(path, name=dataset.name, label_names=dataset.label_names, modalities=dataset.modalities,
                         single_label=dataset.single_label, dtype=dtype, **kwargs) as writer:
        for split_name, split in dataset.splits.items():
            writer.write_split(split_name, split)
    return Path(path)


# --------------------------------------------------------------------------- reading


def _require(condition: bool, path: Path, what: str) -> None:
    if not condition:
        raise DataError(f"{path}: {what}")


def load_canonical(path: str | Path, *, in_memory: bool = False, check_stamp: bool = True) -> Dataset:
    """Open a canonical file lazily, checking what a job relies on (see :mod:`mmerbench.integrity`).

    Shapes and attributes are checked; labels, lengths and ids are re-validated
    and re-hashed against the digests stored at write time; a file whose size
    or modification time changed since then has its full fingerprint
    recomputed and is refused if its content changed. ``check_stamp=False``
    (``data verify``, which recomputes everything anyway) skips the digest and
    stamp comparisons.
    """
    import h5py

    from mmerbench.integrity import check_on_load, check_small_arrays, small_digests

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"{path}: not a readable HDF5 file (truncated or corrupted?): {exc}") from None
    attrs = handle.attrs
    for key in ("schema_version", "name", "label_names", "modalities", "fingerprint"):
        _require(key in attrs, path, f"attribute {key!r} missing at '/': not a canonical mmerbench file")
    _require(int(attrs["schema_version"]) == SCHEMA_VERSION, path,
             f"schema_version {attrs['schema_version']} is not supported (this mmerbench reads {SCHEMA_VERSION}); re-import it")
    try:
        label_names = json.loads(attrs["label_names"])
        modalities = {entry["name"]: int(entry["dim"]) for entry in json.loads(attrs["modalities"])}
    except (ValueError, TypeError, KeyError) as exc:
        raise DataError(f"{path}: attributes 'label_names' / 'modalities' are not the JSON mmerbench writes "
                        f"({exc}); re-import it") from None
    single_label = bool(attrs.get("single_label", False))
    splits, small = {}, {}
    for split_name in SPLIT_NAMES:
        if split_name not in handle:
            continue
        group = handle[split_name]
        _require("labels" in group, path, f"/{split_name}/labels missing")
        labels = _read_all(path, group["labels"])
        n = labels.shape[0]
        _require(labels.ndim == 2 and labels.shape[1] == len(label_names), path,
                 f"/{split_name}/labels has shape {labels.shape}, expected ({n}, {len(label_names)})")
        features, lengths, raw_lengths = {}, {}, {}
        for m, dim in modalities.items():
            _require(f"features/{m}" in group, path, f"/{split_name}/features/{m} missing")
            array = group[f"features/{m}"]
            _require(array.ndim == 3 and array.shape[0] == n and array.shape[2] == dim, path,
                     f"/{split_name}/features/{m} has shape {array.shape}, expected ({n}, T, {dim})")
            features[m] = _read_all(path, array) if in_memory else array
            _require(f"lengths/{m}" in group, path, f"/{split_name}/lengths/{m} missing")
            length = _read_all(path, group[f"lengths/{m}"])
            _require(length.shape == (n,), path, f"/{split_name}/lengths/{m} has shape {length.shape}, expected ({n},)")
            raw_lengths[m] = length
            lengths[m] = length.astype(np.int64)
        ids = None
        if "ids" in group:
            ids = np.asarray([x.decode() if isinstance(x, bytes) else str(x) for x in _read_all(path, group["ids"])])
        meta = {key: _read_all(path, group[f"meta/{key}"]) for key in group.get("meta", {})}
        steps = {m: int(features[m].shape[1]) for m in modalities}
        check_small_arrays(path, split_name, labels, lengths, steps, ids, single_label)
        small.update(small_digests(split_name, labels, raw_lengths, ids))
        splits[split_name] = Split(features, lengths, labels, ids, meta, tuple(label_names), single_label)
    _require("train" in splits and "test" in splits, path, f"needs /train and /test groups, found {sorted(splits)}")
    fingerprint = str(attrs["fingerprint"])
    if check_stamp:
        check_on_load(path, handle, str(attrs["name"]), label_names, modalities, single_label, fingerprint, small)
    return Dataset(
        name=str(attrs["name"]),
        train=splits["train"],
        valid=splits.get("valid"),
        test=splits["test"],
        label_names=label_names,
        modalities=modalities,
        single_label=single_label,
        fingerprint=fingerprint,
        path=str(path),
    )


def _read_all(path: Path, dataset) -> np.ndarray:
    try:
        return dataset[()]
    except OSError as exc:  # a fletcher32 mismatch, or a truncated file
        from mmerbench.integrity import read_error

        raise read_error(path, dataset.name, exc) from None


def carved_fingerprint(file_fingerprint: str, valid_fraction: float, seed: int = 0) -> str:
    """The splits fingerprint of a dataset whose validation split is carved from train (rule, fraction, seed)."""
    tag = f"{file_fingerprint}|{VALIDATION_RULE}|fraction={valid_fraction}|seed={seed}"
    return hashlib.sha256(tag.encode()).hexdigest()[:16]


def with_validation(dataset: Dataset, valid_fraction: float, seed: int = 0) -> Dataset:
    """Carve a validation split from train when the dataset has none or an empty one (``carve_validation``)."""
    if dataset.valid is not None and len(dataset.valid) > 0:
        return dataset
    if not valid_fraction:
        if dataset.valid is not None:  # an empty split is no split: say so in one way only
            dataset = replace(dataset, valid=None, notes=list(dataset.notes), params=dict(dataset.params))
        dataset.notes.append("no validation split (valid_fraction=0): fixed epochs, threshold 0.5 unless fixed")
        dataset.params["valid_fraction"] = 0
        return dataset
    train, valid = carve_validation(dataset.train, valid_fraction, seed)
    return replace(
        dataset,
        train=train,
        valid=valid,
        fingerprint=carved_fingerprint(dataset.fingerprint, valid_fraction, seed),
        file_fingerprint=dataset.file_fingerprint or dataset.fingerprint,
        uncarved_train=dataset.train,
        valid_seed=seed,
        params={**dataset.params, "valid_fraction": valid_fraction},
        notes=dataset.notes + [f"validation carved from train: {VALIDATION_RULE}, fraction {valid_fraction}, seed {seed}"],
    )


def recarve_validation(dataset: Dataset, seed: int) -> Dataset:
    """The same dataset with its carved validation split drawn again with ``seed`` (``--resample-valid``).

    A dataset that came with its own validation split is returned unchanged: there is nothing to re-draw.
    """
    if dataset.uncarved_train is None or dataset.valid_seed == seed:
        return dataset
    fraction = float(dataset.params["valid_fraction"])
    carved_note = f"validation carved from train: {VALIDATION_RULE}, fraction {fraction}, seed {dataset.valid_seed}"
    uncarved = replace(dataset, train=dataset.uncarved_train, valid=None, fingerprint=dataset.file_fingerprint,
                       uncarved_train=None, valid_seed=None, notes=[n for n in dataset.notes if n != carved_note])
    return with_validation(uncarved, fraction, seed)


def load_imported(name: str, valid_fraction: float = 0.1, in_memory: bool = False) -> Dataset:
    """Load a dataset that ``mmerbench data import NAME`` stored in the canonical form."""
    path = canonical_path(name)
    if not path.exists():
        raise DataError(
            f"dataset {name!r} has not been imported: {path} does not exist. "
            f"Run `mmerbench data import {name} --help` to see which files it needs."
        )
    return with_validation(load_canonical(path, in_memory=in_memory), valid_fraction)
