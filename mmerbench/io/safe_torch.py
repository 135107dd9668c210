"""Read ``torch.save`` files (zip and legacy formats) without torch and without ``torch.load``.

The pickle inside goes through :class:`mmerbench.io.safe_pickle.RestrictedUnpickler`
with torch's tensor rebuild and storage types added (:data:`TORCH_GLOBALS`).
A tensor becomes a numpy array over its storage, after checking that its
offset, sizes and strides are non-negative and stay inside the storage; a
storage is a bounds-checked read-only memory map of the file (stored zip
members, the legacy format) or a fresh copy of a compressed member, whose
expansion counts against the file's materialised-size limit.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from mmerbench.errors import DataError
from mmerbench.io.torch_globals import _LegacyStorageRef, _DeferredTensor, _storage_dtype, tensor_view
from mmerbench.io.safe_pickle import (
    Limits,
    RestrictedUnpickler,
    UnsafePickleError,
    guarded,
    load_and_finish,
    load_file_object,
)

READ_BLOCK = 1 << 20


class _LegacyResolver:
    """Turns :class:`_DeferredTensor` placeholders into arrays once the storages are read."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        self.arrays = arrays

    def accepts(self, value) -> bool:
        return isinstance(value, _DeferredTensor)

    def __call__(self, tensor: _DeferredTensor) -> np.ndarray:
        if tensor.storage.key not in self.arrays:
            raise DataError(f"tensor storage {tensor.storage.key} was not written (truncated file?)")
        return tensor_view(self.arrays[tensor.storage.key], tensor.offset, tensor.size, tensor.stride)


def _decode(value):
    return value.decode("ascii") if isinstance(value, bytes) else value


# --------------------------------------------------------------------------- entry point


def load_torch_file(path: str | Path) -> Any:
    """Read a ``torch.save`` file (zip or legacy format) safely; tensors come back as numpy arrays."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head == b"PK\x03\x04":
        if not zipfile.is_zipfile(path):
            raise DataError(f"{path}: the zip archive (torch.save format) is truncated or corrupted: its "
                            "central directory at the end of the file is missing; download the file again")
        return _load_torch_zip(path)
    return _load_torch_legacy(path)


# --------------------------------------------------------------------------- zip format


def _member_offset(handle, info: zipfile.ZipInfo, file_size: int) -> int:
    """Where a stored (uncompressed) zip member's bytes start, checked to lie inside the file."""
    handle.seek(info.header_offset)
    header = handle.read(30)
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        raise DataError(f"zip member {info.filename}: bad local header (truncated or corrupted file?)")
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    start = info.header_offset + 30 + name_length + extra_length
    if info.compress_size != info.file_size or start + info.file_size > file_size:
        raise DataError(f"zip member {info.filename}: bytes {start}..{start + info.file_size} lie outside the "
                        f"{file_size}-byte file (truncated or corrupted file?)")
    return start


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits) -> bytes:
    """A compressed member's bytes, stopping as soon as it expands past what it declares or the limit."""
    limits.charge(info.file_size, f"zip member {info.filename} of {info.file_size} bytes")
    parts, total = [], 0
    with archive.open(info) as member:
        while True:
            block = member.read(READ_BLOCK)
            if not block:
                break
            total += len(block)
            if total > info.file_size:
                raise DataError(f"zip member {info.filename} expands past its declared {info.file_size} bytes")
            parts.append(block)
    return b"".join(parts)


def _load_torch_zip(path: Path) -> Any:
    def read():
        try:
            archive = zipfile.ZipFile(path)
        except zipfile.BadZipFile as exc:
            raise DataError(f"corrupted zip archive: {exc}") from None
        file_size = os.path.getsize(path)
        limits = Limits(file_size)
        # Two handles: the pickle is read sequentially from one; storage offsets are looked up with the other.
        with archive, open(path, "rb") as handle, open(path, "rb") as lookup:
            pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            if not pickles:
                raise DataError("a zip archive without data.pkl is not a torch.save file")
            prefix = pickles[0][: -len("data.pkl")]

            def storage(pid):
                if type(pid) is not tuple or len(pid) < 3 or _decode(pid[0]) != "storage":
                    raise UnsafePickleError(f"refused a persistent id {pid!r}")
                dtype, key = _storage_dtype(pid[1]), _decode(pid[2])
                if type(key) is not str or "/" in key or ".." in key:
                    raise UnsafePickleError(f"refused a storage key {key!r}")
                name = f"{prefix}data/{key}"
                try:
                    info = archive.getinfo(name)
                except KeyError:
                    raise DataError(f"tensor storage {name} is missing (truncated file?)") from None
                if info.file_size % dtype.itemsize:
                    raise DataError(f"tensor storage {name}: {info.file_size} bytes is not a whole number of "
                                    f"{dtype} elements")
                count = info.file_size // dtype.itemsize
                if count == 0:
                    return np.zeros(0, dtype=dtype)
                if info.compress_type != zipfile.ZIP_STORED:
                    return np.frombuffer(_read_member(archive, info, limits), dtype=dtype).copy()
                return np.memmap(path, dtype=dtype, mode="r", offset=_member_offset(lookup, info, file_size),
                                 shape=(count,))

            info = archive.getinfo(pickles[0])
            options = dict(allow_torch=True, persistent_load=storage)
            if info.compress_type == zipfile.ZIP_STORED:
                handle.seek(_member_offset(handle, info, file_size))
                return load_and_finish(handle, limits, span_path=str(path), **options)
            data = _read_member(archive, info, limits)
            return load_and_finish(io.BytesIO(data), limits, **options)

    return guarded(str(path), read)


# --------------------------------------------------------------------------- legacy format


_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def _load_torch_legacy(path: Path) -> Any:
    with open(path, "rb") as handle:
        limits = Limits(os.fstat(handle.fileno()).st_size)
        try:
            magic = RestrictedUnpickler(handle, limits=limits, wide_ints=True).load()
        except UnsafePickleError as exc:
            raise UnsafePickleError(f"{path}: {exc}") from None
        except Exception:
            magic = None
        if magic != _LEGACY_MAGIC:
            raise DataError(f"{path}: not a torch.save file (neither a zip archive nor the legacy format)")
        load_file_object(handle, str(path), limits)  # protocol version
        load_file_object(handle, str(path), limits)  # sys info
        refs: dict[str, _LegacyStorageRef] = {}

        def storage(pid):
            if type(pid) is not tuple or len(pid) < 3 or _decode(pid[0]) != "storage":
                raise UnsafePickleError(f"refused a persistent id {pid!r}")
            dtype, key = _storage_dtype(pid[1]), _decode(pid[2])
            if len(pid) > 5 and pid[5] is not None:
                raise DataError("storage views of the pre-1.0 format are not supported")
            ref = refs.setdefault(key, _LegacyStorageRef(key, dtype))
            if ref.dtype != dtype:
                raise UnsafePickleError(f"refused storage {key!r} declared as both {ref.dtype} and {dtype}")
            return ref

        unpickler = RestrictedUnpickler(handle, limits=limits, allow_torch=True, span_path=str(path),
                                        persistent_load=storage)
        result = guarded(str(path), unpickler.load)
        keys = load_file_object(handle, str(path), limits)
        if type(keys) is not list:
            raise DataError(f"{path}: the storage key list is a {type(keys).__name__} (corrupted file?)")
        offset = handle.tell()  # raw storages follow: per key an int64 element count, then the bytes
        end = handle.seek(0, io.SEEK_END)
        arrays: dict[str, np.ndarray] = {}
        for key in (_decode(k) for k in keys):
            handle.seek(offset)
            header = handle.read(8)
            if len(header) < 8:
                raise DataError(f"{path}: storage {key} is missing (truncated file?)")
            numel, = struct.unpack("<q", header)
            dtype = refs[key].dtype if key in refs else np.dtype(np.uint8)
            start, stop = offset + 8, offset + 8 + numel * dtype.itemsize
            if numel < 0 or stop > end:
                raise DataError(f"{path}: storage {key} needs bytes up to {stop}, the file ends at {end} (truncated?)")
            arrays[key] = (np.memmap(path, dtype=dtype, mode="r", offset=start, shape=(numel,)) if numel
                           else np.zeros(0, dtype=dtype))
            offset = stop
    return guarded(str(path), lambda: unpickler.finish(result, _LegacyResolver(arrays)))
