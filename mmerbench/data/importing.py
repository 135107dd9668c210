"""Helpers shared by the dataset importers (``mmerbench data import NAME``).

Importers read users' files (via :mod:`mmerbench.io.safe_pickle` for pickles and
``.pt`` files), describe each split as a :class:`SplitSource` whose feature
arrays may be lazy (memory-mapped, or lists of per-sample arrays) and hand
them to :func:`write_canonical`, which streams them chunk by chunk into
:class:`mmerbench.data.CanonicalWriter` (atomic, validated). Every error
names the file, the key and what was expected.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from mmerbench.errors import DataError

CHUNK_BYTES = 64 << 20  # rows are converted and written in chunks of about this many float32 bytes

# MMS2S / CARAT-style target token lists: [2 (<s>), emotion ids..., 3 (</s>)], 0 = padding, 1 = <unk>.
TGT_SPECIAL_TOKENS = (0, 1, 2, 3)
TGT_FIRST_LABEL_ID = 4
MOSEI_EMOTIONS = ("happy", "sad", "anger", "surprise", "disgust", "fear")


# --------------------------------------------------------------------------- files


def require_file(path: str | Path | None, what: str) -> Path:
    if path is None:
        raise DataError(f"no {what} given")
    path = Path(path).expanduser()
    if not path.is_file():
        hint = " (it is a folder)" if path.is_dir() else ""
        raise DataError(f"{what} {path} does not exist{hint}")
    return path


def sniff_format(path: Path) -> str:
    """'hdf5', 'zip', 'pickle', 'torch-legacy' or 'unknown', from the first bytes."""
    with open(path, "rb") as handle:
        head = handle.read(16)
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "hdf5"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head[:1] == b"\x80" and len(head) > 2 and head[2:3] == b"\x8a":
        return "torch-legacy"  # protocol marker, then LONG1: torch's magic number
    if head[:1] == b"\x80" or head[:1] in (b"(", b"}", b"]", b"c"):
        return "pickle"
    return "unknown"


def expect_format(path: Path, allowed: Sequence[str], what: str) -> str:
    found = sniff_format(path)
    if found not in allowed:
        names = {"hdf5": "an HDF5 file", "zip": "a zip archive (torch.save / npz)", "pickle": "a pickle",
                 "torch-legacy": "a legacy torch.save file", "unknown": "of an unknown format"}
        raise DataError(f"{path}: is {names[found]}, but the {what} must be "
                        + " or ".join(names[a] for a in allowed))
    return found


def load_pickle_file(path: Path, what: str) -> Any:
    from mmerbench.io.safe_pickle import load_pickle

    expect_format(path, ("pickle",), what)
    return load_pickle(path)


def load_torch_or_pickle(path: Path, what: str) -> Any:
    from mmerbench.io.safe_pickle import load_pickle
    from mmerbench.io.safe_torch import load_torch_file

    kind = expect_format(path, ("zip", "torch-legacy", "pickle"), what)
    return load_pickle(path) if kind == "pickle" else load_torch_file(path)


def file_sha256(path: str | Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            hasher.update(block)
    return hasher.hexdigest()


def sources_sha256(paths: Iterable[str | Path | None]) -> dict[str, str]:
    return {Path(p).name: file_sha256(p) for p in paths if p is not None}


# --------------------------------------------------------------------------- nested keys


def get_key(mapping: Any, key: str, where: str, alternatives: Sequence[str] = ()) -> Any:
    """``mapping[key]`` (or the first alternative present), else an error listing the keys."""
    if not isinstance(mapping, Mapping):
        raise DataError(f"{where}: expected a dict with key {key!r}, found {type(mapping).__name__}")
    for candidate in (key, *alternatives):
        if candidate in mapping:
            return mapping[candidate]
    keys = ", ".join(repr(k) for k in list(mapping)[:20])
    names = " or ".join(repr(k) for k in (key, *alternatives))
    raise DataError(f"{where}: key {names} is missing; found keys: {keys}")


# --------------------------------------------------------------------------- arrays


class RowSource:
    """Rows of a feature array: an (N, T, D) array (possibly memory-mapped) or a list of (T, D) arrays."""

    def __init__(self, data: Any, where: str, vectors: bool = False):
        self.where = where
        if hasattr(data, "shape") and hasattr(data, "dtype") and not isinstance(data, list):
            array = data
            if vectors and array.ndim == 2:
                array = array[:, None, :]
            if array.ndim != 3:
                raise DataError(f"{where}: expected (N, T, D) features, found shape {tuple(array.shape)}")
            self._array, self._list = array, None
            self.shape = tuple(int(s) for s in array.shape)
        elif isinstance(data, (list, tuple)):
            self._array, self._list = None, list(data)
            first = np.asarray(self._list[0]) if self._list else np.zeros((1, 0))
            if first.ndim == 1 and vectors:
                first = first[None, :]
            if first.ndim != 2:
                raise DataError(f"{where}: expected a list of (T, D) arrays, found an element of shape {first.shape}")
            self.shape = (len(self._list), int(first.shape[0]), int(first.shape[1]))
            self._vectors = vectors
        else:
            raise DataError(f"{where}: expected an array or a list of arrays, found {type(data).__name__}")

    def __len__(self) -> int:
        return self.shape[0]

    def rows(self, start: int, stop: int) -> np.ndarray:
        if self._array is not None:
            return np.asarray(self._array[start:stop], dtype=np.float32)
        parts = []
        for i in range(start, stop):
            item = np.asarray(self._list[i], dtype=np.float32)
            if item.ndim == 1 and self._vectors:
                item = item[None, :]
            if item.shape != self.shape[1:]:
                raise DataError(f"{self.where}: sample {i} has shape {item.shape}, sample 0 has {self.shape[1:]}")
            parts.append(item)
        return np.stack(parts) if parts else np.zeros((0,) + self.shape[1:], dtype=np.float32)


@dataclass
class SplitSource:
    """One split as importers describe it; ``features`` are (N, T, D) sources."""

    features: dict[str, RowSource]
    labels: np.ndarray  # (N, q) in {0, 1}
    lengths: dict[str, np.ndarray] = field(default_factory=dict)
    ids: np.ndarray | None = None
    meta: dict[str, np.ndarray] = field(default_factory=dict)

    def check(self, where: str) -> None:
        n = int(self.labels.shape[0])
        for m, source in self.features.items():
            if len(source) != n:
                raise DataError(f"{where}: {m} has {len(source)} samples but the labels have {n}")
        for m, length in self.lengths.items():
            if np.asarray(length).shape != (n,):
                raise DataError(f"{where}: lengths of {m} have shape {np.asarray(length).shape}, expected ({n},)")
        if self.ids is not None and len(self.ids) != n:
            raise DataError(f"{where}: {len(self.ids)} ids for {n} samples")


def write_canonical(
    output_path: str | Path,
    *,
    name: str,
    dtype: str,
    label_names: Sequence[str],
    splits: Mapping[str, SplitSource],
    source_sha256: Mapping[str, str],
    single_label: bool = False,
    attrs: Mapping[str, Any] | None = None,
) -> Path:
    """Stream the splits into the canonical HDF5 file (atomic: nothing is left on failure)."""
    from mmerbench.data.canonical import CanonicalWriter

    first_name, first = next(iter(splits.items()))
    modalities = {m: source.shape[2] for m, source in first.features.items()}
    for split_name, split in splits.items():
        split.check(f"split {split_name!r}")
        _check_widths(split_name, split, first_name, first)
    with CanonicalWriter(output_path, name=name, label_names=label_names, modalities=modalities,
                         single_label=single_label, dtype=dtype, source_sha256=source_sha256,
                         attrs=attrs) as writer:
        for split_name, split in splits.items():
            n = int(split.labels.shape[0])
            steps = {m: source.shape[1] for m, source in split.features.items()}
            writer.create_split(split_name, n=n, steps=steps, with_ids=split.ids is not None,
                                meta_shapes={k: np.asarray(v).shape[1:] for k, v in split.meta.items()})
            row_bytes = sum(s.shape[1] * s.shape[2] * 4 for s in split.features.values())
            chunk = max(1, CHUNK_BYTES // max(row_bytes, 1))
            for start in range(0, n, chunk):
                stop = min(n, start + chunk)
                writer.write_rows(
                    split_name,
                    features={m: _checked_rows(source, start, stop, f"{split_name}/{m}")
                              for m, source in split.features.items()},
                    labels=split.labels[start:stop],
                    lengths={m: np.asarray(v)[start:stop] for m, v in split.lengths.items()} or None,
                    ids=None if split.ids is None else split.ids[start:stop],
                    meta={k: np.asarray(v)[start:stop] for k, v in split.meta.items()},
                )
    return Path(output_path)


def _source_name(source: Any, fallback: str) -> str:
    """Where a feature source came from (``/data/x.pkl: train/audio``), as its importer named it."""
    return getattr(source, "where", None) or fallback


def _check_widths(split_name: str, split: SplitSource, first_name: str, first: SplitSource) -> None:
    """Every split has the first split's modalities and feature widths; a mismatch names both sources."""
    if set(split.features) != set(first.features):
        raise DataError(f"split {split_name!r} has modalities {sorted(split.features)}, but split {first_name!r} "
                        f"has {sorted(first.features)}; every split needs the same modalities")
    for m, source in split.features.items():
        width, expected = source.shape[2], first.features[m].shape[2]
        if width != expected:
            raise DataError(f"{_source_name(source, f'{split_name}/{m}')}: {width} features per step, but "
                            f"{_source_name(first.features[m], f'{first_name}/{m}')} has {expected}; every split "
                            f"must have the same feature width for {m}")


def _checked_rows(source: Any, start: int, stop: int, fallback: str) -> np.ndarray:
    """Rows ``start:stop`` of a source, refused if they hold NaN, naming the source file and the sample.

    The canonical writer would also refuse them, but it can only name the output file it is writing.
    """
    rows = source.rows(start, stop)
    nan = np.isnan(rows)
    if nan.any():
        row, *position = (int(i) for i in np.argwhere(nan)[0])
        at = f"step {position[0]}, feature {position[1]}" if len(position) == 2 else f"feature {position[-1]}"
        raise DataError(f"{_source_name(source, fallback)}: NaN in sample {start + row} ({at}; "
                        f"{int(nan.sum())} NaN values in samples {start}..{stop - 1}); clean or impute them "
                        "before importing")
    return rows


def as_array(value: Any, where: str, ndim: int | None = None) -> np.ndarray:
    try:
        array = np.asarray(value)
    except Exception as exc:  # ragged lists
        raise DataError(f"{where}: cannot be read as an array ({exc})") from None
    if ndim is not None and array.ndim != ndim:
        raise DataError(f"{where}: expected {ndim} dimensions, found shape {array.shape}")
    return array


# --------------------------------------------------------------------------- labels


def tgt_to_multihot(tgt: Sequence[Sequence[int]], where: str, q: int = len(MOSEI_EMOTIONS),
                    first_id: int = TGT_FIRST_LABEL_ID) -> np.ndarray:
    """MMS2S / CARAT token lists ``[2, e.., 3]`` -> (N, q) multi-hot; ids ``first_id..first_id+q-1``."""
    labels = np.zeros((len(tgt), q), dtype=np.uint8)
    for row, tokens in enumerate(tgt):
        for token in np.asarray(tokens).reshape(-1).tolist():
            token = int(token)
            if token in TGT_SPECIAL_TOKENS:
                continue
            if not first_id <= token < first_id + q:
                raise DataError(f"{where}: sample {row} has label token {token}; emotion tokens must be "
                                f"{first_id}..{first_id + q - 1} (specials {TGT_SPECIAL_TOKENS})")
            labels[row, token - first_id] = 1
    return labels


def class_indices_to_onehot(classes: Sequence[int], q: int, where: str) -> np.ndarray:
    classes = np.asarray(classes).reshape(-1)
    if classes.size and (not np.issubdtype(classes.dtype, np.number)):
        raise DataError(f"{where}: class labels must be integers, found {classes.dtype}")
    classes = classes.astype(np.int64)
    bad = (classes < 0) | (classes >= q)
    if bad.any():
        raise DataError(f"{where}: label {int(classes[bad][0])} out of range (valid classes 0..{q - 1})")
    return np.eye(q, dtype=np.uint8)[classes]


# --------------------------------------------------------------------------- folds


def load_folds(path: Path) -> dict[str, set[str]]:
    """Standard folds by video id: ``{"train": [...], "valid": [...], "test": [...]}`` (JSON).

    The CMU SDK names (``standard_train_fold`` ...) and ``dev`` for ``valid`` are accepted.
    """
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a JSON folds file ({exc})") from None
    aliases = {"train": ("train", "standard_train_fold"), "valid": ("valid", "dev", "standard_valid_fold"),
               "test": ("test", "standard_test_fold")}
    folds = {}
    for split, names in aliases.items():
        folds[split] = {str(v) for v in get_key(raw, names[0], str(path), names[1:])}
    overlap = (folds["train"] & folds["test"]) | (folds["train"] & folds["valid"]) | (folds["valid"] & folds["test"])
    if overlap:
        raise DataError(f"{path}: videos in two folds, e.g. {sorted(overlap)[:3]}")
    return folds


def assign_folds(video_ids: Sequence[str], folds: Mapping[str, set[str]]) -> np.ndarray:
    """The split of each video id ('train' / 'valid' / 'test', or '' when in no fold)."""
    split_of = {video: split for split, members in folds.items() for video in members}
    return np.array([split_of.get(str(video), "") for video in video_ids], dtype=object)


# --------------------------------------------------------------------------- describing / verifying


def describe_canonical(path: str | Path) -> dict:
    """Sizes, dims, label frequencies and length statistics of a canonical file (reads labels and lengths only)."""
    import h5py

    from mmerbench.data.canonical import load_canonical

    dataset = load_canonical(path)
    with h5py.File(path, "r") as handle:
        attrs = handle.attrs
        sources = json.loads(attrs["source_sha256"]) if "source_sha256" in attrs else {}
        created_by = str(attrs.get("created_by", ""))
        first = next(iter(dataset.modalities))
        dtype = str(handle[f"train/features/{first}"].dtype)
    splits = {}
    for split_name, split in dataset.splits.items():
        lengths = {}
        for m, length in split.lengths.items():
            length = np.asarray(length)
            lengths[m] = {"T": split.steps[m], "min": int(length.min()) if length.size else 0,
                          "mean": float(length.mean()) if length.size else 0.0,
                          "max": int(length.max()) if length.size else 0, "missing": int((length == 0).sum())}
        labels = np.asarray(split.labels)
        splits[split_name] = {"n": len(split), "lengths": lengths,
                              "label_frequency": labels.mean(axis=0).round(4).tolist() if len(split) else []}
    return {"name": dataset.name, "path": str(path), "fingerprint": dataset.fingerprint,
            "label_names": list(dataset.label_names), "modalities": dict(dataset.modalities),
            "single_label": dataset.single_label, "dtype": dtype, "splits": splits,
            "source_sha256": sources, "created_by": created_by}


def recompute_fingerprint(path: str | Path) -> tuple[str, str]:
    """(stored, recomputed) fingerprint, hashing every stored array (see :func:`mmerbench.data.canonical.verify_file`)."""
    from mmerbench.data.canonical import verify_file

    stored, recomputed, _ = verify_file(Path(path))
    return stored, recomputed
