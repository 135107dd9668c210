"""Is a canonical dataset file still what was written?

Three layers, from cheap to complete:

- **every load** re-validates the small arrays (labels binary, one positive per
  row for single-label data, ``0 <= length <= T``, one id per sample) and
  re-hashes them against the per-array digests the writer stored in the
  ``array_sha256`` attribute, whose combination must also give the stored
  fingerprint;
- **every load** compares the file's size and modification time with the
  *stamp* recorded beside it when it was written (``.NAME.h5.stamp``); a file
  without a stamp, or whose size or time changed, has its full fingerprint
  recomputed, and is refused when that disagrees (the message says how to
  re-import); a file that still agrees gets a fresh stamp;
- ``mmerbench data verify`` always recomputes everything (:func:`mmerbench.data.canonical.verify_file`).

Feature chunks are written with HDF5's fletcher32 checksum filter, so bit rot
in a chunk makes reading it fail; :func:`read_error` turns that failure into
an error naming the file and the array.

The fingerprint itself is unchanged: the sha256 of each feature, length and
label array, combined with the label names and modalities
(:func:`mmerbench.data.combine_digests`). Ids are hashed and checked, but are
not part of the fingerprint, so files written before ids were hashed keep
their fingerprint (and their results).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from mmerbench.errors import DataError

log = logging.getLogger(__name__)

DIGESTS_ATTR = "array_sha256"
HASH_CHUNK_BYTES = 64 << 20
SMALL_KEYS = ("labels", "lengths", "ids")


# --------------------------------------------------------------------------- hashing


def ids_bytes(ids: Iterable[str]) -> bytes:
    """What the digest of ids hashes: each id as UTF-8, each followed by a NUL."""
    return b"".join(str(i).encode("utf-8") + b"\0" for i in ids)


def digest_of(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def dataset_digest(path, dataset, nan_check: bool = False) -> str:
    """The sha256 of an h5py dataset's bytes, read in blocks (checksum failures name the array)."""
    hasher = hashlib.sha256()
    row_bytes = max(1, int(np.prod(dataset.shape[1:])) * dataset.dtype.itemsize)
    rows = max(1, HASH_CHUNK_BYTES // row_bytes)
    for start in range(0, dataset.shape[0], rows):
        try:
            block = np.ascontiguousarray(dataset[start:start + rows])
        except OSError as exc:
            raise read_error(path, dataset.name, exc) from None
        if nan_check and block.dtype.kind == "f" and np.isnan(block).any():
            row = start + int(np.argwhere(np.isnan(block))[0][0])
            raise DataError(f"{path}: {dataset.name}: NaN values (first in row {row}); re-import it")
        hasher.update(block.tobytes())
    return hasher.hexdigest()


def read_error(path, array_name: str, exc: Exception) -> DataError:
    """A failed HDF5 read (a fletcher32 mismatch, a truncated file) as an error naming file and array."""
    return DataError(f"{path}: {array_name}: the stored data cannot be read ({exc}); the file is damaged "
                     "(bit rot, or truncated): re-import it, or delete a generated cache file to regenerate it")


# --------------------------------------------------------------------------- the stamp


def stamp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.stamp")


def _file_state(path: Path) -> dict:
    info = os.stat(path)
    return {"size": info.st_size, "mtime_ns": info.st_mtime_ns}


def write_stamp(path: Path, fingerprint: str) -> None:
    """Record the file's size and time beside it (best effort: a read-only folder just skips it)."""
    target = stamp_path(path)
    temporary = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    try:
        temporary.write_text(json.dumps({**_file_state(path), "fingerprint": fingerprint}))
        os.replace(temporary, target)
    except OSError as exc:
        log.debug("cannot record the stamp of %s: %s", path, exc)
        temporary.unlink(missing_ok=True)


def stamp_matches(path: Path, fingerprint: str) -> bool:
    try:
        stamp = json.loads(stamp_path(path).read_text())
    except (OSError, ValueError):
        return False
    return stamp == {**_file_state(path), "fingerprint": fingerprint}


# --------------------------------------------------------------------------- checks


def check_small_arrays(path, split: str, labels: np.ndarray, lengths: Mapping[str, np.ndarray],
                       steps: Mapping[str, int], ids, single_label: bool) -> None:
    """Labels in {0, 1} (one positive per row for single-label data), 0 <= length <= T, one id per sample."""
    n = labels.shape[0]
    if labels.size and not np.isin(labels, (0, 1)).all():
        bad = np.unique(labels[~np.isin(labels, (0, 1))])[:5]
        raise DataError(f"{path}: /{split}/labels must be 0 or 1, found {bad.tolist()}; re-import it")
    if single_label and n and not (labels.sum(axis=1) == 1).all():
        row = int(np.flatnonzero(labels.sum(axis=1) != 1)[0])
        raise DataError(f"{path}: /{split}/labels: single-label data needs one positive per row; row {row} "
                        f"has {int(labels[row].sum())}; re-import it")
    for m, length in lengths.items():
        if length.size and (length.min() < 0 or length.max() > steps[m]):
            raise DataError(f"{path}: /{split}/lengths/{m} must be within 0..{steps[m]}, found "
                            f"{int(length.min())}..{int(length.max())}; re-import it")
    if ids is not None and len(ids) != n:
        raise DataError(f"{path}: /{split}/ids has {len(ids)} ids for {n} samples; re-import it")


def small_digests(split: str, labels: np.ndarray, raw_lengths: Mapping[str, np.ndarray], ids) -> dict[str, str]:
    """Digests of a split's small arrays as stored (labels uint8, lengths int32), keyed like the attribute."""
    out = {f"{split}/labels": digest_of(labels)}
    out.update({f"{split}/lengths/{m}": digest_of(length) for m, length in raw_lengths.items()})
    if ids is not None:
        out[f"{split}/ids"] = hashlib.sha256(ids_bytes(ids)).hexdigest()
    return out


def stored_digests(path, attrs) -> dict[str, str] | None:
    if DIGESTS_ATTR not in attrs:
        return None  # written before digests were stored: the stamp and the full recompute still apply
    try:
        digests = json.loads(attrs[DIGESTS_ATTR])
    except ValueError:
        raise DataError(f"{path}: attribute {DIGESTS_ATTR!r} is not JSON; re-import it") from None
    return digests


def compare_digests(path, expected: Mapping[str, str], found: Mapping[str, str], name: str) -> None:
    for key, digest in found.items():
        if key in expected and expected[key] != digest:
            raise DataError(f"{path}: /{key} changed since the file was written (its sha256 no longer matches); "
                            f"{reimport_hint(name)}")


def fingerprint_of_digests(label_names, modalities, single_label, digests: Mapping[str, str]) -> str:
    keyed = {tuple(key.split("/", 1)): value for key, value in digests.items() if not key.endswith("/ids")}
    return combine_digests(label_names, modalities, single_label, keyed)


def reimport_hint(name: str) -> str:
    return (f"re-import it with `mmerbench data import {name} --force ...` (or, for a generated dataset, "
            "delete the file and it is generated again)")


# --------------------------------------------------------------------------- full recompute


def recompute_digests(path, handle, modalities, nan_check: bool = False) -> dict[str, str]:
    """Digests of every array the fingerprint covers, and of ids, read from an open file."""
    digests = {}
    for split in ("train", "valid", "test"):
        if split not in handle:
            continue
        keys = [f"features/{m}" for m in modalities] + [f"lengths/{m}" for m in modalities] + ["labels"]
        for key in keys:
            if key not in handle[split]:
                name = str(handle.attrs.get("name", ""))
                raise DataError(f"{path}: /{split}/{key} is missing; {reimport_hint(name)}")
            digests[f"{split}/{key}"] = dataset_digest(path, handle[split][key], nan_check=nan_check)
        if "ids" in handle[split]:
            digests[f"{split}/ids"] = hashlib.sha256(ids_bytes(read_ids(handle[split]["ids"]))).hexdigest()
    return digests


def read_ids(dataset) -> list[str]:
    return [x.decode() if isinstance(x, bytes) else str(x) for x in dataset[()]]


def full_fingerprint(path, handle, label_names, modalities, single_label, nan_check: bool = False) -> tuple[str, dict]:
    digests = recompute_digests(path, handle, modalities, nan_check=nan_check)
    return fingerprint_of_digests(label_names, modalities, single_label, digests), digests


def check_on_load(path: Path, handle, name: str, label_names, modalities, single_label, fingerprint: str,
                  small: Mapping[str, str]) -> None:
    """The per-load checks after the small arrays were validated; ``small`` are their fresh digests."""
    digests = stored_digests(path, handle.attrs)
    if digests is not None:
        if fingerprint_of_digests(label_names, modalities, single_label, digests) != fingerprint:
            raise DataError(f"{path}: the stored fingerprint {fingerprint} does not match the stored array "
                            f"digests (the file's attributes were edited); {reimport_hint(name)}")
        compare_digests(path, digests, small, name)
    if stamp_matches(path, fingerprint):
        return
    log.info("%s changed size or time since it was written (or has no stamp): recomputing its fingerprint", path)
    recomputed, _ = full_fingerprint(path, handle, label_names, modalities, single_label)
    if recomputed != fingerprint:
        raise DataError(f"{path}: its content changed since it was written (fingerprint stored {fingerprint}, "
                        f"recomputed {recomputed}); results keyed by the old fingerprint would not describe it: "
                        f"{reimport_hint(name)}")
    write_stamp(path, fingerprint)




def combine_digests(label_names, modalities: Mapping[str, int], single_label: bool,
                    digests: Mapping[tuple[str, str], str]) -> str:
    """A canonical file's fingerprint from the sha256 of each of its arrays, keyed (split, array)."""
    outer = hashlib.sha256()
    outer.update(json.dumps([list(label_names), dict(modalities), bool(single_label)]).encode())
    for (split, key), digest in sorted(digests.items()):
        outer.update(f"{split}/{key}:{digest}".encode())
    return outer.hexdigest()[:16]
