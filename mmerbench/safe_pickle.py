"""Read pickles and torch ``.pt`` files without running code from them.

Feature files users download are pickles, and a pickle can call any importable
function while it loads. :class:`RestrictedUnpickler` resolves only an
allow-list of globals:

- numpy arrays, dtypes and scalars, under the numpy 1 (``numpy.core``) and
  numpy 2 (``numpy._core``) module names;
- builtin containers and scalars (also under their Python 2 names), and
  ``collections.OrderedDict`` / ``defaultdict``;
- ``argparse.Namespace`` (MMS2S-style ``.pt`` files carry their settings);
- for ``.pt`` files only, torch's tensor-rebuild function and storage types,
  which are rebuilt here as numpy arrays (torch is not needed to read them).

Anything else is refused with :class:`UnsafePickleError`, naming the global,
before it is called. Pickles are always read with ``encoding="latin1"``, which
is what Python 2 pickles of numpy arrays need and changes nothing for
Python 3 pickles (whose text is stored as unicode).

Memory: a pickle has no index, so in general unpickling materializes every
array. When the pickle is read from a file and an array's bytes are stored in
one piece (protocol 3+ ``BINBYTES``, protocol 5 ``BYTEARRAY8``, Python 2
``BINSTRING``) and are large, the bytes are not read: the array becomes a
read-only ``np.memmap`` of that region of the file. Torch zip ``.pt`` files
get the same treatment for their pickle and their tensor storages. Protocol 2
Python 3 pickles store bytes as latin-1 text and are always materialized.
"""

from __future__ import annotations

import _compat_pickle
import io
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from mmerbench.errors import DataError

SPAN_THRESHOLD = 1 << 20  # payloads this large (bytes) are memory-mapped instead of read


class UnsafePickleError(DataError):
    """A pickle asked for a global outside the allow-list."""


# --------------------------------------------------------------------------- allow-list

_BUILTINS = {"list", "dict", "tuple", "set", "frozenset", "int", "float", "complex", "bool", "str",
             "bytes", "bytearray", "slice", "range", "object"}
_ALLOWED = {("builtins", name) for name in _BUILTINS} | {
    ("copyreg", "_reconstructor"),  # protocol 0/1 object rebuild; its class arguments are checked too
    ("_codecs", "encode"),  # protocol 2 pickles store bytes as latin-1 text
    ("collections", "OrderedDict"),
    ("collections", "defaultdict"),
    ("argparse", "Namespace"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}
_NUMPY_CORE = {"numpy.core.multiarray": {"_reconstruct", "scalar"}, "numpy.core.numeric": {"_frombuffer"}}
_TORCH_STORAGES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
_TORCH_REBUILD = {("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor")}

ALLOWED_DESCRIPTION = (
    "only numpy arrays/dtypes/scalars, builtin containers and scalars, collections.OrderedDict, "
    "argparse.Namespace (and torch tensors inside .pt files) are allowed"
)


def _numpy_core_module(module: str) -> str | None:
    """'numpy._core.x' / 'numpy.core.x' -> the canonical 'numpy.core.x' key, else None."""
    for prefix in ("numpy._core.", "numpy.core."):
        if module.startswith(prefix):
            return "numpy.core." + module[len(prefix):]
    return None


def _import_numpy_core(module: str, name: str):
    """Import from numpy's core under whichever name this numpy uses (no deprecation warning)."""
    import importlib

    suffix = module[len("numpy.core."):]
    for prefix in ("numpy._core.", "numpy.core."):
        try:
            return getattr(importlib.import_module(prefix + suffix), name)
        except ImportError:
            continue
    raise UnsafePickleError(f"cannot import {module}.{name} from this numpy")


# --------------------------------------------------------------------------- lazy large payloads


class _FileSpan:
    """Bytes left in the file: (path, offset, length)."""

    def __init__(self, path: str, offset: int, length: int):
        self.path, self.offset, self.length = path, offset, length

    def as_array(self, dtype, shape, order: str = "C") -> np.ndarray:
        dtype = np.dtype(dtype)
        count = int(np.prod(shape)) if len(shape) else 1
        if count * dtype.itemsize != self.length:
            raise DataError(f"{self.path}: array of shape {tuple(shape)} {dtype} does not match its "
                            f"{self.length} stored bytes (corrupted file?)")
        if count == 0:
            return np.zeros(shape, dtype=dtype)
        return np.memmap(self.path, dtype=dtype, mode="r", offset=self.offset, shape=tuple(shape), order=order)

    def read(self) -> bytes:
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            return handle.read(self.length)


class _PendingArray:
    """What ``_reconstruct`` returns: the array is made when BUILD brings its state."""

    def __init__(self, cls):
        self.cls = cls
        self.memo_keys: list = []


def _reconstruct(cls, shape, typecode):
    return _PendingArray(cls)


def _frombuffer(buffer, dtype, shape, order):
    if isinstance(buffer, _FileSpan):
        return buffer.as_array(dtype, shape, order)
    return np.frombuffer(buffer, dtype=dtype).reshape(shape, order=order)


def _finish_array(pending: _PendingArray, state) -> np.ndarray:
    version, shape, dtype, is_fortran, raw = state if len(state) == 5 else (1, *state)
    if isinstance(raw, _FileSpan):
        return raw.as_array(dtype, shape, "F" if is_fortran else "C")
    array = np.ndarray.__new__(np.ndarray, (0,), "b")
    array.__setstate__(state)
    return array


# --------------------------------------------------------------------------- the unpickler


class RestrictedUnpickler(pickle._Unpickler):
    """A pure-Python unpickler that resolves only allow-listed globals.

    ``allow_torch`` adds torch's tensor rebuild (as numpy) for ``.pt`` files.
    ``span_path``: the path of ``file`` when it is a plain file, so large array
    payloads can be memory-mapped instead of read.
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file, *, allow_torch: bool = False, span_path: str | None = None, persistent_load=None):
        super().__init__(file, encoding="latin1")
        self._raw_file = file
        self._span_path = span_path
        self._allow_torch = allow_torch
        self._persistent = persistent_load

    # -- globals -----------------------------------------------------------------------

    def find_class(self, module: str, name: str):
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        core = _numpy_core_module(module)
        if core is not None and name in _NUMPY_CORE.get(core, ()):
            if name == "_reconstruct":
                return _reconstruct
            if name == "_frombuffer":
                return _frombuffer
            return _import_numpy_core(core, name)
        if module == "numpy.dtypes" and name.endswith("DType"):
            return super().find_class(module, name)
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        if self._allow_torch:
            if module == "torch" and name in _TORCH_STORAGES:
                return _StorageType(name)
            if (module, name) in _TORCH_REBUILD:
                return _rebuild_tensor
        raise UnsafePickleError(f"refused to load the global {module}.{name}: {ALLOWED_DESCRIPTION}")

    def persistent_load(self, pid):
        if self._persistent is None:
            raise UnsafePickleError(f"refused a persistent id {pid!r}: a plain pickle has none")
        return self._persistent(pid)

    # -- arrays and memo -------------------------------------------------------------------

    def load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(inst, _PendingArray):
            array = _finish_array(inst, state)
            self.stack[-1] = array
            for key in inst.memo_keys:
                self.memo[key] = array
            return
        self.stack.append(state)
        super().load_build()

    dispatch[pickle.BUILD[0]] = load_build

    def _remember(self, key):
        if isinstance(self.stack[-1], _PendingArray):
            self.stack[-1].memo_keys.append(key)

    def load_memoize(self):
        self._remember(len(self.memo))
        super().load_memoize()

    def load_binput(self):
        key = self.read(1)[0]
        self._remember(key)
        self.memo[key] = self.stack[-1]

    def load_long_binput(self):
        key, = struct.unpack("<I", self.read(4))
        self._remember(key)
        self.memo[key] = self.stack[-1]

    def load_put(self):
        key = int(self.readline()[:-1])
        self._remember(key)
        self.memo[key] = self.stack[-1]

    dispatch[pickle.MEMOIZE[0]] = load_memoize
    dispatch[pickle.BINPUT[0]] = load_binput
    dispatch[pickle.LONG_BINPUT[0]] = load_long_binput
    dispatch[pickle.PUT[0]] = load_put

    # -- large payloads ------------------------------------------------------------------

    def _array_context(self) -> bool:
        """Is the payload being read an ndarray's state or a _frombuffer argument?"""
        if not self.metastack:
            return bool(self.stack) and self.stack[-1] is _frombuffer
        below = self.metastack[-1]
        return bool(below) and (isinstance(below[-1], _PendingArray) or below[-1] is _frombuffer)

    def _payload(self, length: int, as_text: bool = False):
        if length < SPAN_THRESHOLD or self._span_path is None or not self._array_context():
            data = self.read(length)
            if len(data) < length:
                raise DataError("pickle data was truncated")
            return data.decode("latin1") if as_text else data
        frame = self._unframer.current_frame
        if frame is not None:
            if frame.tell() < len(frame.getbuffer()):  # payload inside a frame: read it
                data = self.read(length)
                return data.decode("latin1") if as_text else data
            self._unframer.current_frame = None
        offset = self._raw_file.tell()
        end = self._raw_file.seek(0, io.SEEK_END)
        if offset + length > end:
            raise DataError(f"pickle data was truncated: an array needs bytes {offset}..{offset + length}, "
                            f"the file ends at {end}")
        self._raw_file.seek(offset + length)
        return _FileSpan(self._span_path, offset, length)

    def load_binbytes(self):
        length, = struct.unpack("<I", self.read(4))
        self.append(self._payload(length))

    def load_binbytes8(self):
        length, = struct.unpack("<Q", self.read(8))
        self.append(self._payload(length))

    def load_bytearray8(self):
        length, = struct.unpack("<Q", self.read(8))
        data = self._payload(length)
        self.append(data if isinstance(data, _FileSpan) else bytearray(data))

    def load_binstring(self):  # Python 2 str; latin-1 maps bytes 1:1, so a span is exact
        length, = struct.unpack("<i", self.read(4))
        if length < 0:
            raise pickle.UnpicklingError("BINSTRING pickle has negative byte count")
        self.append(self._payload(length, as_text=True))

    dispatch[pickle.BINBYTES[0]] = load_binbytes
    dispatch[pickle.BINBYTES8[0]] = load_binbytes8
    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8
    dispatch[pickle.BINSTRING[0]] = load_binstring


def _load(file, path: str, **kwargs) -> Any:
    try:
        return RestrictedUnpickler(file, **kwargs).load()
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{path}: {exc}") from None
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    except (EOFError, pickle.UnpicklingError, struct.error, ValueError, TypeError, IndexError,
            KeyError, AttributeError, UnicodeDecodeError, MemoryError) as exc:
        raise DataError(f"{path}: not a readable pickle (truncated or corrupted file?): "
                        f"{type(exc).__name__}: {exc}") from None


def load_pickle(path: str | Path) -> Any:
    """Unpickle a file with the restricted unpickler; large arrays come back memory-mapped."""
    path = Path(path)
    with open(path, "rb") as handle:
        return _load(handle, str(path), span_path=str(path))


def loads(data: bytes) -> Any:
    """Unpickle bytes with the restricted unpickler (no memory-mapping)."""
    return _load(io.BytesIO(data), "<bytes>")


# --------------------------------------------------------------------------- torch files


class _StorageType:
    def __init__(self, name: str):
        self.name = name
        self.dtype = np.dtype(_TORCH_STORAGES[name])


class _Deferred:
    """A legacy-format tensor whose storage bytes come after the pickle."""

    def __init__(self, key, offset, size, stride):
        self.key, self.offset, self.size, self.stride = key, offset, tuple(size), tuple(stride)


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    if isinstance(storage, _LegacyStorageRef):
        return _Deferred(storage.key, storage_offset, size, stride)
    return _view(storage, storage_offset, size, stride)


def _view(flat: np.ndarray, offset: int, size, stride) -> np.ndarray:
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if not size:
        return np.array(flat[offset])
    needed = offset + sum((s - 1) * st for s, st in zip(size, stride)) + 1 if all(size) else offset
    if needed > flat.shape[0]:
        raise DataError(f"a tensor of size {size} needs {needed} elements, its storage has {flat.shape[0]}")
    return np.lib.stride_tricks.as_strided(flat[offset:], shape=size,
                                           strides=tuple(st * flat.itemsize for st in stride), writeable=False)


class _LegacyStorageRef:
    def __init__(self, key, dtype):
        self.key, self.dtype = key, dtype


def _decode(value):
    return value.decode("ascii") if isinstance(value, bytes) else value


def _member_offset(handle, info: zipfile.ZipInfo) -> int:
    """Where a stored (uncompressed) zip member's bytes start in the archive."""
    handle.seek(info.header_offset)
    header = handle.read(30)
    if header[:4] != b"PK\x03\x04":
        raise DataError(f"zip member {info.filename}: bad local header")
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_length + extra_length


def load_torch_file(path: str | Path) -> Any:
    """Read a ``torch.save`` file (zip or legacy format) safely; tensors come back as numpy arrays."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if zipfile.is_zipfile(path):
        return _load_torch_zip(path)
    return _load_torch_legacy(path)


def _load_torch_zip(path: Path) -> Any:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise DataError(f"{path}: corrupted zip archive: {exc}") from None
    # Two handles: the pickle is read sequentially from one; storage offsets are looked up with the other.
    with archive, open(path, "rb") as handle, open(path, "rb") as lookup:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if not pickles:
            raise DataError(f"{path}: a zip archive without data.pkl is not a torch.save file")
        prefix = pickles[0][: -len("data.pkl")]

        def storage(pid):
            kind, storage_type, key, _location, numel = (list(pid) + [None] * 5)[:5]
            if _decode(kind) != "storage" or not isinstance(storage_type, _StorageType):
                raise UnsafePickleError(f"refused a persistent id {pid!r}")
            name = f"{prefix}data/{_decode(key)}"
            try:
                info = archive.getinfo(name)
            except KeyError:
                raise DataError(f"{path}: tensor storage {name} is missing (truncated file?)") from None
            dtype = storage_type.dtype
            count = info.file_size // dtype.itemsize
            if info.compress_type != zipfile.ZIP_STORED or count == 0:
                return np.frombuffer(archive.read(name), dtype=dtype)
            return np.memmap(path, dtype=dtype, mode="r", offset=_member_offset(lookup, info), shape=(count,))

        info = archive.getinfo(pickles[0])
        if info.compress_type == zipfile.ZIP_STORED:
            handle.seek(_member_offset(handle, info))
            return _load(handle, str(path), allow_torch=True, span_path=str(path), persistent_load=storage)
        return _load(io.BytesIO(archive.read(pickles[0])), str(path), allow_torch=True, persistent_load=storage)


_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def _load_torch_legacy(path: Path) -> Any:
    with open(path, "rb") as handle:
        try:
            magic = RestrictedUnpickler(handle).load()
        except UnsafePickleError as exc:
            raise UnsafePickleError(f"{path}: {exc}") from None
        except Exception:
            magic = None
        if magic != _LEGACY_MAGIC:
            raise DataError(f"{path}: not a torch.save file (neither a zip archive nor the legacy format)")
        _load(handle, str(path))  # protocol version
        _load(handle, str(path))  # sys info
        refs: dict[str, _LegacyStorageRef] = {}

        def storage(pid):
            kind, storage_type, key = pid[0], pid[1], _decode(pid[2])
            if _decode(kind) != "storage" or not isinstance(storage_type, _StorageType):
                raise UnsafePickleError(f"refused a persistent id {pid!r}")
            if len(pid) > 5 and pid[5] is not None:
                raise DataError(f"{path}: storage views of the pre-1.0 format are not supported")
            return refs.setdefault(key, _LegacyStorageRef(key, storage_type.dtype))

        result = _load(handle, str(path), allow_torch=True, span_path=str(path), persistent_load=storage)
        keys = [_decode(k) for k in _load(handle, str(path))]
        offset = handle.tell()  # raw storages follow: per key an int64 element count, then the bytes
        end = handle.seek(0, io.SEEK_END)
        arrays: dict[str, np.ndarray] = {}
        for key in keys:
            handle.seek(offset)
            header = handle.read(8)
            if len(header) < 8:
                raise DataError(f"{path}: storage {key} is missing (truncated file?)")
            numel, = struct.unpack("<q", header)
            dtype = refs[key].dtype if key in refs else np.dtype(np.uint8)
            start, stop = offset + 8, offset + 8 + numel * dtype.itemsize
            if stop > end:
                raise DataError(f"{path}: storage {key} needs bytes up to {stop}, the file ends at {end} (truncated?)")
            arrays[key] = (np.memmap(path, dtype=dtype, mode="r", offset=start, shape=(numel,)) if numel
                           else np.zeros(0, dtype=dtype))
            offset = stop
    return _resolve(result, arrays, path)


def _resolve(value, arrays, path):
    """Replace deferred legacy tensors by numpy views of their storages."""
    if isinstance(value, _Deferred):
        if value.key not in arrays:
            raise DataError(f"{path}: tensor storage {value.key} was not written (truncated file?)")
        return _view(arrays[value.key], value.offset, value.size, value.stride)
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (_Deferred, dict, list, tuple)):
                value[key] = _resolve(item, arrays, path)
        return value
    if isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, (_Deferred, dict, list, tuple)):
                value[i] = _resolve(item, arrays, path)
        return value
    if isinstance(value, tuple) and any(isinstance(i, (_Deferred, dict, list, tuple)) for i in value):
        return tuple(_resolve(i, arrays, path) for i in value)
    return value
