"""What a ``torch.save`` pickle may name: tensor rebuilds and storage types, as bounds-checked numpy views.

:data:`TORCH_GLOBALS` is a complete, static table: the restricted unpickler adds
it for ``.pt`` files (``allow_torch=True``), whether or not
:mod:`mmerbench.io.safe_torch` has been imported.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from mmerbench.errors import DataError
from mmerbench.io.pickle_data import UnsafePickleError

STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class StorageType:
    """``torch.FloatStorage`` & co. in a persistent id: only their element type matters."""

    def __init__(self, name: str):
        self.name, self.dtype = name, np.dtype(STORAGE_DTYPES[name])


class _LegacyStorageRef:
    """A legacy-format storage whose bytes come after the pickle."""

    def __init__(self, key: str, dtype: np.dtype):
        self.key, self.dtype = key, dtype


class _DeferredTensor:
    """A legacy-format tensor, made once its storage has been read."""

    def __init__(self, storage: _LegacyStorageRef, offset: int, size: tuple, stride: tuple):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


def _rebuild_tensor(unpickler, storage, storage_offset, size, stride, *unused):
    offset, size, stride = _checked_geometry(storage_offset, size, stride)
    if isinstance(storage, _LegacyStorageRef):
        return _DeferredTensor(storage, offset, size, stride)
    if not isinstance(storage, np.ndarray):
        raise UnsafePickleError(f"refused a tensor over a {type(storage).__name__}")
    return tensor_view(storage, offset, size, stride)


def _storage_type(name: str):
    def build(unpickler, *args):
        raise UnsafePickleError(f"refused to call torch.{name}: it may only name a storage's type")
    build.storage_type = StorageType(name)
    return build


# The globals a .pt file's pickle may name, beside ALLOWED_GLOBALS (used only with allow_torch=True).
TORCH_GLOBALS: dict[tuple[str, str], Callable | None] = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    **{("torch", name): _storage_type(name) for name in STORAGE_DTYPES},
}


def _storage_dtype(value) -> np.dtype:
    build = getattr(value, "_build", None)
    storage_type = getattr(build, "storage_type", None)
    if storage_type is None:
        names = ", ".join(f"torch.{name}" for name in STORAGE_DTYPES)
        raise UnsafePickleError(f"refused a storage of type {value!r}: expected one of {names}")
    return storage_type.dtype


def _checked_geometry(offset, size, stride) -> tuple[int, tuple, tuple]:
    def naturals(values) -> bool:
        return type(values) in (tuple, list) and all(type(v) is int and v >= 0 for v in values)

    if type(offset) is not int or offset < 0 or not naturals(size) or not naturals(stride) \
            or len(size) != len(stride) or len(size) > 32:
        raise UnsafePickleError(f"refused a tensor with offset {offset!r}, size {size!r}, stride {stride!r}: "
                                "each must be non-negative integers, as many strides as sizes")
    return offset, tuple(size), tuple(stride)


def tensor_view(flat: np.ndarray, offset: int, size: tuple, stride: tuple) -> np.ndarray:
    """The tensor's elements over its (flat) storage, after a bounds check; read-only."""
    count = 1
    for s in size:
        count *= s
    if count == 0:
        return np.zeros(size, dtype=flat.dtype)
    last = offset + sum((s - 1) * st for s, st in zip(size, stride))
    if last >= flat.shape[0]:
        raise DataError(f"a tensor of size {size} (offset {offset}, stride {stride}) reaches element {last}, "
                        f"its storage has {flat.shape[0]} (corrupted file?)")
    view = np.lib.stride_tricks.as_strided(flat[offset:], shape=size,
                                           strides=tuple(st * flat.itemsize for st in stride), writeable=False)
    return view
