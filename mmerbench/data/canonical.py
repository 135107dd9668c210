"""The canonical HDF5 form: written atomically and validated by :class:`CanonicalWriter`, opened lazily.

The canonical file ``$MMERBENCH_HOME/data/NAME.h5`` is written only through
:class:`CanonicalWriter`, which validates every chunk, writes to a temporary
name and renames it when complete. :func:`load_canonical` re-checks shapes,
attributes and the small arrays' digests (:mod:`mmerbench.data.integrity`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from mmerbench.data.integrity import (DIGESTS_ATTR, full_fingerprint, stored_digests, check_on_load, check_small_arrays, combine_digests,
                                      ids_bytes, small_digests, write_stamp)
from mmerbench.data.splits import FLOAT16_MAX, SCHEMA_VERSION, SPLIT_NAMES, Dataset, Split
from mmerbench.data.validation import with_validation
from mmerbench.errors import DataError
from mmerbench.paths import canonical_path

log = logging.getLogger(__name__)


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
            array = self._check_features(split, m, np.asarray(features[m]), n, target.shape, start)
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

    def _check_features(self, split, m, array, n, shape, start=0) -> np.ndarray:
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
            row = start + int(np.argwhere(nan)[0][0])  # the split's row, not the chunk's
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
        from mmerbench.version import __version__

        attrs["created_by"] = f"mmerbench {__version__}"
        for key, value in self.extra_attrs.items():
            attrs[key] = value if isinstance(value, (int, float, str, bool)) else json.dumps(value)


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
    """Open a canonical file lazily, checking what a job relies on (see :mod:`mmerbench.data.integrity`).

    Shapes and attributes are checked; labels, lengths and ids are re-validated
    and re-hashed against the digests stored at write time; a file whose size
    or modification time changed since then has its full fingerprint
    recomputed and is refused if its content changed. ``check_stamp=False``
    (``data verify``, which recomputes everything anyway) skips the digest and
    stamp comparisons.
    """
    import h5py


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
        from mmerbench.data.integrity import read_error

        raise read_error(path, dataset.name, exc) from None


def load_imported(name: str, valid_fraction: float = 0.1, in_memory: bool = False) -> Dataset:
    """Load a dataset that ``mmerbench data import NAME`` stored in the canonical form."""
    path = canonical_path(name)
    if not path.exists():
        raise DataError(
            f"dataset {name!r} has not been imported: {path} does not exist. "
            f"Run `mmerbench data import {name} --help` to see which files it needs."
        )
    return with_validation(load_canonical(path, in_memory=in_memory), valid_fraction)

def verify_file(path: Path) -> tuple[str, str, list[str]]:
    """(stored fingerprint, recomputed fingerprint, arrays whose digest changed), reading every chunk.

    Every check a load makes runs first (structure, attributes, small-array
    values), then every array is read (fletcher32 checksums verified, NaN
    refused) and hashed. A file that agrees gets a fresh stamp.
    """
    import h5py

    dataset = load_canonical(path, check_stamp=False)
    with h5py.File(path, "r") as handle:
        recomputed, digests = full_fingerprint(path, handle, dataset.label_names, dataset.modalities,
                                               dataset.single_label, nan_check=True)
        stored = stored_digests(path, handle.attrs) or {}
    changed = sorted(key for key in digests if key in stored and stored[key] != digests[key])
    if recomputed == dataset.fingerprint and not changed:
        write_stamp(Path(path), recomputed)
    return dataset.fingerprint, recomputed, changed
