"""Read pickles and torch ``.pt`` files without running code and within bounded memory (DESIGN.md section 2).

Feature files users download are pickles, and a pickle can call any importable
function while it loads, or hand numpy/torch objects whose internals the file
chose. Safety here does not rest on knowing every trick: the loader resolves
no real class or function from the file at all. Each allowed global name maps
to a small *builder* of this module, and what :func:`load_pickle` hands back
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

Limits (a file over either is refused, naming the file and the limit):

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
:mod:`mmerbench.safe_torch` (re-exported here as :func:`load_torch_file`).
"""

from __future__ import annotations

import _compat_pickle
import io
import os
import pickle
import struct
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

from mmerbench.errors import DataError

SPAN_THRESHOLD = 1 << 20  # payloads this large (bytes) are memory-mapped instead of read
EXPANSION_ENV = "MMERBENCH_PICKLE_EXPANSION"
DEPTH_ENV = "MMERBENCH_PICKLE_MAX_DEPTH"
DEFAULT_EXPANSION = 32.0
DEFAULT_MAX_DEPTH = 100
DEPTH_CEILING = 500  # the finishing pass recurses once per level; stay well inside Python's limit
BASE_ALLOWANCE = 64 << 20  # bytes any file may materialise, however small
LONG_BYTES_LIMIT = 64  # integers in data files are small; a huge one only costs time later

NUMERIC_KINDS = "biuf"  # bool, signed and unsigned integers, floats
LIST_KINDS = "USO"  # str, bytes and object arrays become nested lists


class UnsafePickleError(DataError):
    """A pickle asked for something outside the allow-list, or over a limit."""


# --------------------------------------------------------------------------- limits


def _env_number(name: str, default: float, kind: type) -> float:
    text = os.environ.get(name)
    if text is None or text == "":
        return default
    try:
        value = kind(text)
    except ValueError:
        raise DataError(f"{name}={text!r} is not a number (default {default})") from None
    if value <= 0:
        raise DataError(f"{name}={text!r} must be > 0 (default {default})")
    return value


class Limits:
    """The depth and materialised-size limits for one file of ``file_size`` bytes."""

    def __init__(self, file_size: int):
        self.file_size = int(file_size)
        self.expansion = _env_number(EXPANSION_ENV, DEFAULT_EXPANSION, float)
        self.max_depth = min(int(_env_number(DEPTH_ENV, DEFAULT_MAX_DEPTH, int)), DEPTH_CEILING)
        self.max_bytes = int(BASE_ALLOWANCE + self.expansion * self.file_size)
        self.charged = 0

    def charge(self, nbytes: int, what: str) -> None:
        """Count bytes about to be allocated; refuse before allocating past the limit."""
        self.charged += int(nbytes)
        if self.charged > self.max_bytes:
            raise UnsafePickleError(f"{what} would bring the data past {self.max_bytes} bytes "
                                    f"materialised, {self.describe_size()}")

    def describe_size(self) -> str:
        return (f"the limit for a file of {self.file_size} bytes (64 MiB + {self.expansion:g} x its size; "
                f"set {EXPANSION_ENV} to raise the factor for a file you trust)")

    def too_deep(self) -> UnsafePickleError:
        return UnsafePickleError(f"data nested deeper than {self.max_depth} levels (set {DEPTH_ENV} "
                                 f"up to {DEPTH_CEILING} for a file you trust)")


# --------------------------------------------------------------------------- what loading produces


class _FileSpan:
    """Bytes left in the file: (path, offset, length), for an array to memory-map."""

    def __init__(self, path: str, offset: int, length: int):
        self.path, self.offset, self.length = path, offset, length


class _ArrayHolder:
    """What numpy's ``_reconstruct`` gives: empty until BUILD brings the array's state."""

    value: Any = None
    built = False


class _DtypeHolder:
    """A dtype code from the file; BUILD may set its byte order and item size."""

    def __init__(self, code: str):
        self.code, self.order, self.itemsize = code, "=", None

    def resolve(self) -> np.dtype:
        return _simple_dtype(self.code, self.order, self.itemsize)


class _NamespaceDict(dict):
    """An ``argparse.Namespace`` while loading; a plain dict in the result."""


def _simple_dtype(code: str, order: str = "=", itemsize: int | None = None) -> np.dtype:
    """The dtype a numpy code names, if it is bool/int/float, fixed-width str/bytes, or object."""
    if not isinstance(code, str) or not code or len(code) > 8:
        raise UnsafePickleError(f"refused the dtype {code!r}: only bool, integer and float arrays "
                                "(and str, bytes or object arrays, read as lists) are allowed")
    kind = code.lstrip("<>|=")[:1]
    if kind == "O":
        return np.dtype(object)
    try:
        dtype = np.dtype(code)
    except (TypeError, ValueError):
        raise UnsafePickleError(f"refused the dtype {code!r}: not a numpy type code") from None
    if dtype.kind not in NUMERIC_KINDS + "US" or dtype.fields is not None or dtype.subdtype is not None:
        raise UnsafePickleError(f"refused the dtype {code!r} (kind {dtype.kind!r}): only bool, integer and "
                                "float arrays (and str, bytes or object arrays, read as lists) are allowed")
    if dtype.kind in "US" and itemsize is not None and itemsize >= 0:
        unit = 4 if dtype.kind == "U" else 1
        if itemsize == 0 or itemsize % unit:
            raise UnsafePickleError(f"refused the dtype {code!r} with item size {itemsize}")
        dtype = np.dtype(f"{dtype.kind}{itemsize // unit}")
    elif itemsize not in (None, -1) and itemsize != dtype.itemsize:
        raise UnsafePickleError(f"refused the dtype {code!r}: item size {itemsize} is not {dtype.itemsize}")
    if dtype.itemsize == 0:
        raise UnsafePickleError(f"refused the dtype {code!r}: item size 0")
    return dtype.newbyteorder(order) if order in "<>" and dtype.kind in NUMERIC_KINDS + "U" else dtype


# --------------------------------------------------------------------------- the builders


class _Global:
    """An allowed global: what REDUCE / NEWOBJ / BUILD may do with it (nothing else is callable)."""

    def __init__(self, name: str, build: Callable | None):
        self.name, self._build = name, build

    def call(self, unpickler: "RestrictedUnpickler", args: tuple) -> Any:
        if self._build is None:
            raise UnsafePickleError(f"refused to call {self.name}: it is allowed only as an argument")
        if type(args) is not tuple:
            raise UnsafePickleError(f"refused to call {self.name} with non-tuple arguments")
        try:
            return self._build(unpickler, *args)
        except TypeError as exc:
            raise UnsafePickleError(f"refused {self.name} with arguments of types "
                                    f"{[type(a).__name__ for a in args]}: {exc}") from None

    def __repr__(self) -> str:
        return f"<allowed global {self.name}>"


def _copy_container(kind: type, what: str):
    def build(unpickler, items=()):
        if type(items) not in (list, tuple, set, frozenset, dict):
            raise UnsafePickleError(f"refused {what}() of a {type(items).__name__}")
        unpickler.limits.charge(16 + 8 * len(items), f"{what}() of {len(items)} items")
        value = kind(items)
        if kind in (tuple, frozenset):
            unpickler.note_hashable(value)
        return value
    return build


def _scalar_builder(kind: type, accepted: tuple):
    def build(unpickler, *args):
        if not all(type(a) in accepted for a in args):
            raise UnsafePickleError(f"refused {kind.__name__}() of {[type(a).__name__ for a in args]}")
        return kind(*args)
    return build


def _bytes_builder(kind: type):
    def build(unpickler, data=b"", encoding=None):
        if type(data) is str and encoding in ("latin1", "latin-1"):
            unpickler.limits.charge(len(data), f"{kind.__name__} of {len(data)} bytes")
            return kind(data, "latin1")
        if type(data) in (bytes, bytearray) and encoding is None:
            unpickler.limits.charge(len(data), f"{kind.__name__} of {len(data)} bytes")
            return kind(data)
        raise UnsafePickleError(f"refused {kind.__name__}() of a {type(data).__name__}")
    return build


def _codecs_encode(unpickler, text, encoding="utf-8"):
    # Protocol 2 pickles of Python 3 bytes store them as latin-1 text.
    if type(text) is not str or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError("refused _codecs.encode other than of text to latin1")
    unpickler.limits.charge(len(text), f"bytes of {len(text)} characters")
    return text.encode("latin1")


def _plain_dict(unpickler, *args):
    """OrderedDict() / OrderedDict(pairs) / defaultdict(factory): a plain (ordered) dict."""
    if len(args) > 1 or (args and not isinstance(args[0], (list, tuple, _Global, type(None)))):
        raise UnsafePickleError(f"refused a dict of {[type(a).__name__ for a in args]}")
    value = {}
    if args and isinstance(args[0], (list, tuple)):  # protocol 0/1 OrderedDict([[key, value], ...])
        unpickler.limits.charge(16 + 16 * len(args[0]), f"a dict of {len(args[0])} items")
        for pair in args[0]:
            if type(pair) not in (list, tuple) or len(pair) != 2:
                raise UnsafePickleError("refused a dict built from something other than key/value pairs")
            value[pair[0]] = pair[1]
    return value


def _namespace(unpickler, *args):
    if args:
        raise UnsafePickleError("refused argparse.Namespace with positional arguments")
    return unpickler.new_namespace()


def _reconstructor(unpickler, cls, base, state):
    # Protocol 0/1 rebuild of a plain object: allowed for argparse.Namespace only.
    if getattr(cls, "name", None) != "argparse.Namespace" or getattr(base, "name", None) != "builtins.object" \
            or state is not None:
        raise UnsafePickleError(f"refused copyreg._reconstructor of {cls!r}: only argparse.Namespace objects")
    return unpickler.new_namespace()


def _dtype(unpickler, code, align=False, copy=True):
    _simple_dtype(code)  # refuse unknown or structured codes now; BUILD may still set order and size
    return _DtypeHolder(code)


def _reconstruct(unpickler, cls, shape, typecode):
    if getattr(cls, "name", None) != "numpy.ndarray":
        raise UnsafePickleError(f"refused numpy _reconstruct of {cls!r}: only numpy.ndarray")
    return _ArrayHolder()


def _numpy_scalar(unpickler, dtype, data=None):
    if not isinstance(dtype, _DtypeHolder):
        raise UnsafePickleError("refused a numpy scalar without a dtype")
    resolved = dtype.resolve()
    if resolved.kind == "O":
        return data
    if type(data) is str:
        data = data.encode("latin1")
    if type(data) not in (bytes, bytearray) or len(data) != resolved.itemsize:
        raise UnsafePickleError(f"refused a numpy {resolved} scalar of {len(data or b'')} bytes")
    return np.frombuffer(data, dtype=resolved, count=1)[0].item()


def _frombuffer(unpickler, buffer, dtype, shape, order="C"):
    if not isinstance(dtype, _DtypeHolder):
        raise UnsafePickleError("refused numpy _frombuffer without a dtype")
    return unpickler.make_array(shape, dtype.resolve(), order == "F", buffer)


ALLOWED_GLOBALS: dict[tuple[str, str], Callable | None] = {
    ("builtins", "list"): _copy_container(list, "list"),
    ("builtins", "tuple"): _copy_container(tuple, "tuple"),
    ("builtins", "set"): _copy_container(set, "set"),
    ("builtins", "frozenset"): _copy_container(frozenset, "frozenset"),
    ("builtins", "dict"): _plain_dict,
    ("builtins", "int"): _scalar_builder(int, (int, bool, str, bytes)),
    ("builtins", "float"): _scalar_builder(float, (int, bool, float, str)),
    ("builtins", "complex"): _scalar_builder(complex, (int, bool, float)),
    ("builtins", "bool"): _scalar_builder(bool, (int, bool)),
    ("builtins", "str"): _scalar_builder(str, (str,)),
    ("builtins", "bytes"): _bytes_builder(bytes),
    ("builtins", "bytearray"): _bytes_builder(bytearray),
    ("builtins", "object"): None,  # only as copyreg._reconstructor's base
    ("copyreg", "_reconstructor"): _reconstructor,
    ("_codecs", "encode"): _codecs_encode,
    ("collections", "OrderedDict"): _plain_dict,
    ("collections", "defaultdict"): _plain_dict,
    ("argparse", "Namespace"): _namespace,
    ("numpy", "ndarray"): None,  # only as _reconstruct's class
    ("numpy", "dtype"): _dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
}
# Filled by mmerbench.safe_torch: torch's tensor rebuilds and storage types, for .pt files only.
TORCH_GLOBALS: dict[tuple[str, str], Callable | None] = {}

ALLOWED_DESCRIPTION = (
    "only numpy arrays/dtypes/scalars, builtin containers and scalars, collections.OrderedDict/defaultdict, "
    "argparse.Namespace (and torch tensors inside .pt files) are allowed"
)


def canonical_global(module: str, name: str) -> tuple[str, str]:
    """Python 2 and numpy 2 names -> the names :data:`ALLOWED_GLOBALS` uses."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    module = _compat_pickle.IMPORT_MAPPING.get(module, module)
    if module.startswith("numpy._core."):
        module = "numpy.core." + module[len("numpy._core."):]
    return module, name


# --------------------------------------------------------------------------- the unpickler


class RestrictedUnpickler(pickle._Unpickler):
    """A pure-Python unpickler whose globals are :class:`_Global` builders, never real callables.

    ``allow_torch`` adds :data:`TORCH_GLOBALS`. ``span_path``: the path of
    ``file`` when it is a plain file, so large array payloads can be
    memory-mapped instead of read. ``limits``: the :class:`Limits` of the whole
    file (shared by the pickles of one ``.pt``). Call :meth:`finish` on what
    :meth:`load` returns.
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file, *, limits: Limits, allow_torch: bool = False, span_path: str | None = None,
                 persistent_load=None):
        super().__init__(file, encoding="latin1")
        self._raw_file = file
        self._span_path = span_path
        self._allow_torch = allow_torch
        self._persistent = persistent_load
        self.limits = limits
        self._depths: dict[int, tuple[Any, int]] = {}  # id -> (tuple or frozenset, nesting depth)
        self._keep: list = []  # namespaces stay alive, so their ids stay theirs

    # -- globals -----------------------------------------------------------------------

    def find_class(self, module: str, name: str):
        key = canonical_global(str(module), str(name))
        build_table = {**ALLOWED_GLOBALS, **(TORCH_GLOBALS if self._allow_torch else {})}
        if key not in build_table:
            raise UnsafePickleError(f"refused to load the global {module}.{name}: {ALLOWED_DESCRIPTION}")
        return _Global(".".join(key), build_table[key])

    def persistent_load(self, pid):
        if self._persistent is None:
            raise UnsafePickleError(f"refused a persistent id {pid!r}: a plain pickle has none")
        return self._persistent(pid)

    def get_extension(self, code):
        raise UnsafePickleError(f"refused the pickle extension code {code}")

    # -- calls: only builders run ------------------------------------------------------------

    def _call(self, func, args) -> Any:
        if not isinstance(func, _Global):
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
        if isinstance(inst, _ArrayHolder):
            self._build_array(inst, state)
        elif isinstance(inst, _DtypeHolder):
            self._build_dtype(inst, state)
        elif isinstance(inst, _NamespaceDict):
            if type(state) is tuple and len(state) == 2 and state[1] is None:
                state = state[0]
            if type(state) not in (dict, _NamespaceDict) or not all(type(k) is str for k in state):
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

    def _checked_long(self, n: int):
        if n > LONG_BYTES_LIMIT:
            raise UnsafePickleError(f"refused an integer of {n} bytes (at most {LONG_BYTES_LIMIT})")
        self.append(pickle.decode_long(self.read(n)))

    def load_long1(self):
        self._checked_long(self.read(1)[0])

    def load_long4(self):
        n, = struct.unpack("<i", self.read(4))
        if n < 0:
            raise pickle.UnpicklingError("LONG pickle has negative byte count")
        self._checked_long(n)

    def load_long(self):
        text = self.readline()[:-1]
        if len(text) > 3 * LONG_BYTES_LIMIT:
            raise UnsafePickleError(f"refused an integer of {len(text)} digits")
        self.append(int(text.rstrip(b"L") or b"0", 0))

    dispatch[pickle.LONG1[0]] = load_long1
    dispatch[pickle.LONG4[0]] = load_long4
    dispatch[pickle.LONG[0]] = load_long

    # -- arrays -------------------------------------------------------------------------

    def new_namespace(self) -> dict:
        value = _NamespaceDict()
        self._keep.append(value)
        return value

    def _build_dtype(self, holder: _DtypeHolder, state) -> None:
        if type(state) is not tuple or len(state) < 8:
            raise UnsafePickleError(f"refused a dtype state {type(state).__name__} of the wrong form")
        _version, order, subarray, names, fields, itemsize, _alignment, _flags = state[:8]
        if subarray is not None or names is not None or fields is not None:
            raise UnsafePickleError(f"refused the structured or sub-array dtype {holder.code!r}")
        if order not in ("<", ">", "|", "=") or type(itemsize) is not int:
            raise UnsafePickleError(f"refused a dtype state with byte order {order!r}, item size {itemsize!r}")
        holder.order, holder.itemsize = order, itemsize
        _simple_dtype(holder.code, order, itemsize)

    def _build_array(self, holder: _ArrayHolder, state) -> None:
        if holder.built:
            raise UnsafePickleError("refused a second state for one array")
        if type(state) is not tuple or len(state) not in (4, 5):
            raise UnsafePickleError("refused an array state of the wrong form")
        _version, shape, dtype, is_fortran, raw = state if len(state) == 5 else (1, *state)
        if not isinstance(dtype, _DtypeHolder):
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
            return _nest(raw, shape)
        nbytes = count * dtype.itemsize
        if isinstance(raw, _FileSpan):
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
            return isinstance(value, _ArrayHolder) or (isinstance(value, _Global)
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

    # -- the result -----------------------------------------------------------------------

    def finish(self, value, resolve: Callable | None = None) -> Any:
        """Check and convert what :meth:`load` returned (see :func:`finish`)."""
        return finish(value, self.limits, resolve)


def _nest(flat: list, shape: tuple) -> Any:
    """A flat list in C order -> nested lists of ``shape`` (the items themselves are kept)."""
    holder = np.empty(len(flat), dtype=object)
    for i, item in enumerate(flat):  # one by one: an item that is itself a list stays one item
        holder[i] = item
    return holder.reshape(shape).tolist()


# --------------------------------------------------------------------------- finishing


def finish(value, limits: Limits, resolve: Callable | None = None) -> Any:
    """Replace loading placeholders by their values; refuse cycles, depth and size over the limits.

    Shared references stay shared (each object is visited once), but the size
    is counted as a tree, as any consumer that walks the result would see it.
    ``resolve`` turns torch's deferred legacy tensors into arrays.
    """
    done: dict[int, tuple[Any, int]] = {}
    active: set[int] = set()
    # Three Python frames per level of nesting; the depth limit, not Python's, must decide.
    previous_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous_limit, 4 * limits.max_depth + 500))

    def visit(obj, depth: int) -> tuple[Any, int]:
        kind = type(obj)
        if obj is None or kind in (bool, int, float, complex):
            return obj, 8
        if kind in (str, bytes, bytearray):
            return obj, 32 + len(obj)
        key = id(obj)
        if key in done:
            return done[key]
        if depth > limits.max_depth:
            raise limits.too_deep()
        if key in active:
            raise UnsafePickleError("refused a container that contains itself (a reference cycle)")
        active.add(key)
        result, weight = _visit_object(obj, depth, visit, resolve)
        active.discard(key)
        if weight > limits.max_bytes:
            raise UnsafePickleError(f"the data expand to more than {limits.max_bytes} bytes when read "
                                    f"(shared references count each time), {limits.describe_size()}")
        done[key] = (result, weight)
        return result, weight

    try:
        return visit(value, 0)[0]
    finally:
        sys.setrecursionlimit(previous_limit)


def _visit_object(obj, depth, visit, resolve) -> tuple[Any, int]:
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in NUMERIC_KINDS or obj.dtype.fields is not None:
            raise UnsafePickleError(f"refused an array of dtype {obj.dtype}")
        return obj, 96 + obj.size * obj.dtype.itemsize
    if isinstance(obj, _ArrayHolder):
        if not obj.built:
            raise UnsafePickleError("refused an array whose state never came (incomplete pickle)")
        return visit(obj.value, depth)
    if isinstance(obj, _DtypeHolder):
        return obj.resolve().str, 40
    if resolve is not None and resolve.accepts(obj):
        return visit(resolve(obj), depth)
    if type(obj) in (list, dict, _NamespaceDict, tuple, set, frozenset):
        return _visit_container(obj, depth, visit)
    name = obj.name if isinstance(obj, _Global) else type(obj).__name__
    raise UnsafePickleError(f"refused {name} as a value: data may hold only numbers, strings, containers and arrays")


def _visit_container(obj, depth, visit) -> tuple[Any, int]:
    weight = 64
    if type(obj) is list:
        for i, item in enumerate(obj):
            new, size = visit(item, depth + 1)
            weight += 8 + size
            if new is not item:
                obj[i] = new
        return obj, weight
    if isinstance(obj, dict):
        pairs, changed = [], type(obj) is not dict
        for key, item in obj.items():
            new_key, key_size = visit(key, depth + 1)
            new_item, item_size = visit(item, depth + 1)
            weight += 16 + key_size + item_size
            changed = changed or new_key is not key or new_item is not item
            pairs.append((new_key, new_item))
        if type(obj) is not dict:
            return dict(pairs), weight
        if changed:
            obj.clear()
            obj.update(pairs)
        return obj, weight
    items, changed = [], False
    for item in obj:
        new, size = visit(item, depth + 1)
        weight += 8 + size
        changed = changed or new is not item
        items.append(new)
    if not changed:
        return obj, weight
    if type(obj) is set:
        obj.clear()
        obj.update(items)
        return obj, weight
    return type(obj)(items), weight


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


def load_torch_file(path: str | Path) -> Any:
    """Read a ``torch.save`` file safely; see :mod:`mmerbench.safe_torch`."""
    from mmerbench.safe_torch import load_torch_file as load

    return load(path)
