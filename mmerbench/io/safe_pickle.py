"""Read pickles and torch ``.pt`` files without running code and within bounded memory.

Feature files users download are pickles, and a pickle can call any importable
function while it loads, or hand numpy/torch objects whose internals the file
chose. Safety here does not rest on knowing every trick: the loader resolves
no real class or function from the file at all. Each allowed global name maps
to a small *builder* (:mod:`mmerbench.io.pickle_globals`), and what
:func:`load_pickle` hands back (checked by :func:`mmerbench.io.pickle_data.finish`)
is only

- plain builtins: ``None``, ``bool``, ``int``, ``float``, ``complex``, ``str``,
  ``bytes``, ``bytearray``, ``list``, ``tuple``, ``dict``, ``set``, ``frozenset``
  (``OrderedDict``, ``defaultdict`` and ``argparse.Namespace`` become plain
  dicts; string and object arrays become nested lists; numpy dtypes their
  string code);
- numpy arrays of bool, signed/unsigned integer or float dtype over bytes read
  from the file (numpy checks their size against the shape; read-only, as
  ``bytes`` are), or, for large payloads, read-only memory maps of a
  bounds-checked region of the file.

The allowed global names are :data:`ALLOWED_GLOBALS` (plus
:data:`TORCH_GLOBALS` inside ``.pt`` files), resolved after Python 2 and
numpy 1/2 renames; anything else is refused with :class:`UnsafePickleError`,
naming the global, before anything is called.

Limits (a file over any is refused, naming the file and the limit):

- integers fit in 64 bits (wider ones could make dict building quadratic
  through hash collisions: a CPU bomb);
- nesting depth of the result at most ``MMERBENCH_PICKLE_MAX_DEPTH``
  (default 100; tuples are checked while loading, since hashing a deep tuple
  would overflow the C stack);
- *materialised size*: everything the load allocates beyond the opcodes
  themselves (array copies, container copies, decompressed ``.pt`` members),
  and the size of the result counted as a tree (a container referenced twice
  counts twice, as any consumer that walks it would see it), is at most
  ``64 MiB + MMERBENCH_PICKLE_EXPANSION x the file's size`` (default 32).
  Opcodes alone cannot exceed this: each creates at most one small object.
  Raise the environment variables for a trusted file that needs more.

Pickles are always read with ``encoding="latin1"`` (what Python 2 pickles of
numpy arrays need; it changes nothing for Python 3 pickles). Large array
payloads stored in one piece (``BINBYTES``, ``BYTEARRAY8``, Python 2
``BINSTRING``) are not read but memory-mapped; torch files are read by
:mod:`mmerbench.io.safe_torch`.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
from pathlib import Path
from typing import Any, Callable

import numpy as np

from mmerbench.errors import DataError
from mmerbench.io.torch_globals import TORCH_GLOBALS
from mmerbench.io.pickle_data import (  # noqa: F401 (re-exported: the public names of the restricted loader)
    DEPTH_ENV,
    EXPANSION_ENV,
    LIST_KINDS,
    ArrayHolder,
    DtypeHolder,
    FileSpan,
    Limits,
    NamespaceDict,
    UnsafePickleError,
    finish,
    nest,
    simple_dtype,
)
from mmerbench.io.pickle_globals import (  # noqa: F401 (re-exported)
    ALLOWED_DESCRIPTION,
    ALLOWED_GLOBALS,
    AllowedGlobal,
    canonical_global,
)

SPAN_THRESHOLD = 1 << 20  # payloads this large (bytes) are memory-mapped instead of read
# Integers in data files fit in 64 bits. Wider ones are refused: ints hash to their value modulo 2^61 - 1, so
# a file of wide keys that all collide would make building one dict quadratic (minutes of CPU from a megabyte).
INT_RANGE = (-(1 << 63), 1 << 64)
LONG_BYTES_LIMIT = 9  # two's complement bytes of the widest allowed integer

# --------------------------------------------------------------------------- the unpickler


class RestrictedUnpickler(pickle._Unpickler):
    """A pure-Python unpickler whose globals are :class:`AllowedGlobal` builders, never real callables.

    ``allow_torch`` adds :data:`TORCH_GLOBALS`. ``span_path``: the path of
    ``file`` when it is a plain file, so large array payloads can be
    memory-mapped instead of read. ``limits``: the :class:`Limits` of the whole
    file (shared by the pickles of one ``.pt``). Call :meth:`finish` on what
    :meth:`load` returns.
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file, *, limits: Limits, allow_torch: bool = False, span_path: str | None = None,
                 persistent_load=None, wide_ints: bool = False):
        super().__init__(file, encoding="latin1")
        self._raw_file = file
        self._span_path = span_path
        self._allow_torch = allow_torch
        self._persistent = persistent_load
        self.limits = limits
        self._wide_ints = wide_ints  # torch's legacy magic number is 80 bits wide: read with this only
        self._depths: dict[int, tuple[Any, int]] = {}  # id -> (tuple or frozenset, nesting depth)
        self._keep: list = []  # namespaces stay alive, so their ids stay theirs

    # -- globals -----------------------------------------------------------------------

    def find_class(self, module: str, name: str):
        key = canonical_global(str(module), str(name))
        build_table = {**ALLOWED_GLOBALS, **(TORCH_GLOBALS if self._allow_torch else {})}
        if key not in build_table:
            raise UnsafePickleError(f"refused to load the global {module}.{name}: {ALLOWED_DESCRIPTION}")
        return AllowedGlobal(".".join(key), build_table[key])

    def persistent_load(self, pid):
        if self._persistent is None:
            raise UnsafePickleError(f"refused a persistent id {pid!r}: a plain pickle has none")
        return self._persistent(pid)

    def get_extension(self, code):
        raise UnsafePickleError(f"refused the pickle extension code {code}")

    # -- calls: only builders run ------------------------------------------------------------

    def _call(self, func, args) -> Any:
        if not isinstance(func, AllowedGlobal):
            raise UnsafePickleError(f"refused to call a {type(func).__name__}: only allowed globals are callable")
        return func.call(self, args)

    def load_reduce(self):
        args = self.stack.pop()
        self.stack[-1] = self._call(self.stack[-1], args)

    def load_newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._call(cls, args))

    def load_newobj_ex(self):
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        if kwargs:
            raise UnsafePickleError(f"refused keyword arguments to {cls!r}")
        self.append(self._call(cls, args))

    def _instantiate(self, klass, args):  # INST / OBJ (protocols 0 and 1)
        self.append(self._call(klass, tuple(args)))

    def load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(inst, ArrayHolder):
            self._build_array(inst, state)
        elif isinstance(inst, DtypeHolder):
            self._build_dtype(inst, state)
        elif isinstance(inst, NamespaceDict):
            if type(state) is tuple and len(state) == 2 and state[1] is None:
                state = state[0]
            if type(state) not in (dict, NamespaceDict) or not all(type(k) is str for k in state):
                raise UnsafePickleError("refused an argparse.Namespace state that is not a dict of names")
            inst.update(state)
        else:
            raise UnsafePickleError(f"refused to set the state of a {type(inst).__name__}")

    dispatch[pickle.REDUCE[0]] = load_reduce
    dispatch[pickle.NEWOBJ[0]] = load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex
    dispatch[pickle.BUILD[0]] = load_build

    # -- containers: only plain ones grow ------------------------------------------------------

    def load_append(self):
        value = self.stack.pop()
        self._target(list, "append to").append(value)

    def load_appends(self):
        items = self.pop_mark()
        self._target(list, "append to").extend(items)

    def load_setitem(self):
        value = self.stack.pop()
        key = self.stack.pop()
        self._target(dict, "set an item of")[key] = value

    def load_setitems(self):
        items = self.pop_mark()
        target = self._target(dict, "set an item of")
        for i in range(0, len(items) - 1, 2):
            target[items[i]] = items[i + 1]

    def load_additems(self):
        items = self.pop_mark()
        self._target(set, "add to").update(items)

    def _target(self, kind: type, verb: str):
        target = self.stack[-1]
        if not isinstance(target, kind):
            raise UnsafePickleError(f"refused to {verb} a {type(target).__name__}")
        return target

    dispatch[pickle.APPEND[0]] = load_append
    dispatch[pickle.APPENDS[0]] = load_appends
    dispatch[pickle.SETITEM[0]] = load_setitem
    dispatch[pickle.SETITEMS[0]] = load_setitems
    dispatch[pickle.ADDITEMS[0]] = load_additems

    # -- hashable nesting: hashing a deep tuple recurses in C, so depth is checked as tuples form ------------

    def note_hashable(self, value) -> None:
        depth = 1
        for item in value:
            if type(item) in (tuple, frozenset):
                entry = self._depths.get(id(item))
                child = 1 if entry is None else entry[1]  # only tuples holding tuples are tracked
                if child >= depth:
                    depth = child + 1
        if depth > self.limits.max_depth:
            raise self.limits.too_deep()
        if depth > 1:
            self._depths[id(value)] = (value, depth)

    def _tuple_op(opcode_handler):
        def handler(self):
            opcode_handler(self)
            self.note_hashable(self.stack[-1])
        return handler

    for _code in (pickle.TUPLE, pickle.TUPLE1, pickle.TUPLE2, pickle.TUPLE3):
        dispatch[_code[0]] = _tuple_op(pickle._Unpickler.dispatch[_code[0]])

    def load_frozenset(self):
        items = self.pop_mark()
        for item in items:
            hash(item)  # unhashable items fail here, before the frozenset is noted
        self.append(frozenset(items))
        self.note_hashable(self.stack[-1])

    dispatch[pickle.FROZENSET[0]] = load_frozenset
    del _tuple_op, _code

    # -- integers -------------------------------------------------------------------------

    def _append_int(self, value: int) -> None:
        if not self._wide_ints and not INT_RANGE[0] <= value < INT_RANGE[1]:
            raise UnsafePickleError(f"refused the integer {str(value)[:30]}...: data files hold integers of at most "
                                    "64 bits (wider ones could flood a dict with hash collisions)")
        self.append(value)

    def _checked_long(self, n: int):
        if n > (16 if self._wide_ints else LONG_BYTES_LIMIT):
            raise UnsafePickleError(f"refused an integer of {n} bytes (at most 64 bits)")
        self._append_int(pickle.decode_long(self.read(n)))

    def load_long1(self):
        self._checked_long(self.read(1)[0])

    def load_long4(self):
        n, = struct.unpack("<i", self.read(4))
        if n < 0:
            raise pickle.UnpicklingError("LONG pickle has negative byte count")
        self._checked_long(n)

    def load_long(self):
        text = self.readline()[:-1]
        if len(text) > 40:
            raise UnsafePickleError(f"refused an integer of {len(text)} digits")
        self._append_int(int(text.rstrip(b"L") or b"0", 0))

    def load_int(self):  # protocol 0 text integers (and "00"/"01" booleans)
        pickle._Unpickler.load_int(self)
        if type(self.stack[-1]) is int:
            value = self.stack.pop()
            self._append_int(value)

    dispatch[pickle.LONG1[0]] = load_long1
    dispatch[pickle.LONG4[0]] = load_long4
    dispatch[pickle.LONG[0]] = load_long
    dispatch[pickle.INT[0]] = load_int

    # -- arrays -------------------------------------------------------------------------

    def new_namespace(self) -> dict:
        value = NamespaceDict()
        self._keep.append(value)
        return value

    def _build_dtype(self, holder: DtypeHolder, state) -> None:
        if type(state) is not tuple or len(state) < 8:
            raise UnsafePickleError(f"refused a dtype state {type(state).__name__} of the wrong form")
        _version, order, subarray, names, fields, itemsize, _alignment, _flags = state[:8]
        if subarray is not None or names is not None or fields is not None:
            raise UnsafePickleError(f"refused the structured or sub-array dtype {holder.code!r}")
        if order not in ("<", ">", "|", "=") or type(itemsize) is not int:
            raise UnsafePickleError(f"refused a dtype state with byte order {order!r}, item size {itemsize!r}")
        holder.order, holder.itemsize = order, itemsize
        simple_dtype(holder.code, order, itemsize)

    def _build_array(self, holder: ArrayHolder, state) -> None:
        if holder.built:
            raise UnsafePickleError("refused a second state for one array")
        if type(state) is not tuple or len(state) not in (4, 5):
            raise UnsafePickleError("refused an array state of the wrong form")
        _version, shape, dtype, is_fortran, raw = state if len(state) == 5 else (1, *state)
        if not isinstance(dtype, DtypeHolder):
            raise UnsafePickleError(f"refused an array whose dtype is a {type(dtype).__name__}")
        holder.value, holder.built = self.make_array(shape, dtype.resolve(), bool(is_fortran), raw), True

    def make_array(self, shape, dtype: np.dtype, fortran: bool, raw) -> Any:
        """A fresh array (or bounds-checked memory map) of ``shape``/``dtype`` from ``raw``, or a list."""
        if type(shape) is not tuple or not all(type(s) is int and s >= 0 for s in shape) or len(shape) > 32:
            raise UnsafePickleError(f"refused an array shape {shape!r}: expected a tuple of non-negative ints")
        count = 1
        for size in shape:
            count *= size
        order = "F" if fortran else "C"
        if dtype.kind == "O":  # the state is a flat list of the (already safe) objects, in C order
            if type(raw) is not list or len(raw) != count:
                raise UnsafePickleError(f"refused an object array of shape {shape}: its state does not hold "
                                        f"{count} items")
            self.limits.charge(16 + 8 * count, f"an object array of {count} items")
            return nest(raw, shape)
        nbytes = count * dtype.itemsize
        if isinstance(raw, FileSpan):
            if raw.length != nbytes:
                raise DataError(f"an array of shape {shape} {dtype} needs {nbytes} bytes, {raw.length} are stored "
                                "(corrupted file?)")
            if dtype.kind in LIST_KINDS:
                raise UnsafePickleError(f"refused a {nbytes}-byte {dtype} array: string arrays must be small")
            if count == 0:
                return np.zeros(shape, dtype=dtype)
            return np.memmap(raw.path, dtype=dtype, mode="r", offset=raw.offset, shape=shape, order=order)
        if type(raw) is str:  # Python 2 str payloads: latin-1 maps characters to bytes one to one
            self.limits.charge(len(raw), f"an array payload of {len(raw)} bytes")
            raw = raw.encode("latin1")
        if type(raw) not in (bytes, bytearray):
            raise UnsafePickleError(f"refused an array whose data is a {type(raw).__name__}")
        if len(raw) != nbytes:
            raise DataError(f"an array of shape {shape} {dtype} needs {nbytes} bytes, {len(raw)} are stored "
                            "(corrupted file?)")
        if count == 0:
            return [] if dtype.kind in LIST_KINDS else np.zeros(shape, dtype=dtype.newbyteorder("="))
        # A view of the payload read from the file (numpy checks count * itemsize against it): no copy, since
        # the pickle's memo keeps the payload alive anyway. bytes are immutable, so the view is read-only.
        array = np.frombuffer(raw, dtype=dtype, count=count).reshape(shape, order=order)
        if dtype.kind in LIST_KINDS:
            self.limits.charge(48 * count, f"a string array of {count} items")
            try:
                return array.tolist()
            except (ValueError, UnicodeDecodeError) as exc:
                raise DataError(f"a {dtype} array holds invalid characters ({exc})") from None
        return array

    # -- large payloads ------------------------------------------------------------------

    def _array_context(self) -> bool:
        """Is the payload being read an array's state or a _frombuffer argument?"""
        def is_array_site(value) -> bool:
            return isinstance(value, ArrayHolder) or (isinstance(value, AllowedGlobal)
                                                       and value.name == "numpy.core.numeric._frombuffer")
        if not self.metastack:
            return bool(self.stack) and is_array_site(self.stack[-1])
        below = self.metastack[-1]
        return bool(below) and is_array_site(below[-1])

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
        return FileSpan(self._span_path, offset, length)

    def load_binbytes(self):
        length, = struct.unpack("<I", self.read(4))
        self.append(self._payload(length))

    def load_binbytes8(self):
        length, = struct.unpack("<Q", self.read(8))
        self.append(self._payload(length))

    def load_bytearray8(self):
        length, = struct.unpack("<Q", self.read(8))
        data = self._payload(length)
        self.append(data if isinstance(data, FileSpan) else bytearray(data))

    def load_binstring(self):  # Python 2 str; latin-1 maps bytes 1:1, so a span is exact
        length, = struct.unpack("<i", self.read(4))
        if length < 0:
            raise pickle.UnpicklingError("BINSTRING pickle has negative byte count")
        self.append(self._payload(length, as_text=True))

    dispatch[pickle.BINBYTES[0]] = load_binbytes
    dispatch[pickle.BINBYTES8[0]] = load_binbytes8
    dispatch[pickle.BYTEARRAY8[0]] = load_bytearray8
    dispatch[pickle.BINSTRING[0]] = load_binstring

    # -- the result -----------------------------------------------------------------------

    def finish(self, value, resolve: Callable | None = None) -> Any:
        """Check and convert what :meth:`load` returned (see :func:`finish`)."""
        return finish(value, self.limits, resolve)


# --------------------------------------------------------------------------- entry points


def load_file_object(file, path: str, limits: Limits, *, resolve=None, **kwargs) -> Any:
    """Unpickle one pickle from ``file`` and finish it, turning every failure into a DataError naming ``path``."""
    return guarded(path, lambda: load_and_finish(file, limits, resolve=resolve, **kwargs))


def load_and_finish(file, limits: Limits, *, resolve=None, **kwargs) -> Any:
    """Unpickle one pickle and finish it (errors not yet naming the file: wrap in :func:`guarded`)."""
    unpickler = RestrictedUnpickler(file, limits=limits, **kwargs)
    return unpickler.finish(unpickler.load(), resolve)


def guarded(path: str, action: Callable) -> Any:
    """Run ``action``; any failure to read becomes a DataError (or UnsafePickleError) naming ``path``."""
    try:
        return action()
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{path}: {exc}") from None
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    except RecursionError:
        raise UnsafePickleError(f"{path}: data nested too deeply to read") from None
    except MemoryError:
        raise DataError(f"{path}: not enough memory to read this file") from None
    except (EOFError, pickle.UnpicklingError, struct.error, ValueError, TypeError, IndexError,
            KeyError, AttributeError, UnicodeDecodeError, OverflowError) as exc:
        raise DataError(f"{path}: not a readable pickle (truncated or corrupted file?): "
                        f"{type(exc).__name__}: {exc}") from None


def load_pickle(path: str | Path) -> Any:
    """Unpickle a file with the restricted unpickler; large arrays come back memory-mapped."""
    path = Path(path)
    with open(path, "rb") as handle:
        limits = Limits(os.fstat(handle.fileno()).st_size)
        return load_file_object(handle, str(path), limits, span_path=str(path))


def loads(data: bytes) -> Any:
    """Unpickle bytes with the restricted unpickler (no memory-mapping)."""
    return load_file_object(io.BytesIO(data), "<bytes>", Limits(len(data)))
